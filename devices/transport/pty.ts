import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A pair of connected pseudo-terminals made by socat: the driver opens `devicePath` and the
 * emulator opens `emulatorPath`, both with the real serialport bindings, exactly as on a kiosk
 * where the driver opens /dev/ttyUSB0. Closing the pair (or killing socat) is an unplug: both
 * ends see EIO/close. Recreating it at the same paths is a replug.
 *
 * socat runs under `setpriv --pdeathsig KILL` so that it dies with the process that made it, even
 * when that process is killed with SIGKILL; no stray socat outlives a crashed demo or test.
 */
export interface PtyPair {
  devicePath: string;
  emulatorPath: string;
  close(): Promise<void>;
  readonly process: ChildProcess;
}

export class PtyUnavailable extends Error {
  override readonly name = 'PtyUnavailable';
}

export async function createPtyPair(
  devicePath: string,
  emulatorPath: string,
  timeoutMs = 5000,
): Promise<PtyPair> {
  for (const path of [devicePath, emulatorPath]) {
    mkdirSync(dirname(path), { recursive: true });
    if (isSymlink(path)) rmSync(path);
  }
  const args = [
    '--pdeathsig',
    'KILL',
    'socat',
    '-d',
    '-d',
    `pty,raw,echo=0,link=${devicePath}`,
    `pty,raw,echo=0,link=${emulatorPath}`,
  ];
  const child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (error) =>
      reject(new PtyUnavailable(`cannot run socat (${error.message}); install it: apt-get install socat`)),
    ),
  );
  const deadline = Date.now() + timeoutMs;
  const ready = (async () => {
    // socat logs "starting data transfer loop" once both ptys exist and are linked.
    while (!/starting data transfer loop/.test(stderr)) {
      if (child.exitCode !== null) throw new PtyUnavailable(`socat exited: ${stderr.trim().slice(-500)}`);
      if (Date.now() > deadline) throw new PtyUnavailable(`socat did not create the ptys in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    await Promise.race([ready, spawnFailed]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  // -d -d keeps logging every transfer at notice level; stop collecting it.
  child.stderr?.removeAllListeners('data');
  child.stderr?.resume();
  return {
    devicePath,
    emulatorPath,
    process: child,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      for (const path of [devicePath, emulatorPath]) if (isSymlink(path)) rmSync(path, { force: true });
    },
  };
}

function isSymlink(path: string): boolean {
  try {
    return existsSync(path) || lstatSync(path).isSymbolicLink() ? lstatSync(path).isSymbolicLink() : false;
  } catch {
    return false;
  }
}

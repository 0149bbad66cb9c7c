import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/mosquitto.js';

/**
 * A pcscd for one test file, with its own reader.conf.d holding one vpcd reader on a free port.
 * pcsc-lite 1.9.9's daemon has a fixed socket (/run/pcscd/pcscd.comm; it ignores
 * PCSCLITE_CSOCK_NAME), so only one can run: a pcscd already running is an error, not reused.
 * Runs under `setpriv --pdeathsig KILL` so it dies with the tests.
 */
export interface PrivatePcscd {
  vpcdPort: number;
  socketPath: string;
  output: () => string;
  stop(): Promise<void>;
}

const PID_FILE = '/run/pcscd/pcscd.pid';

export async function startPcscd(): Promise<PrivatePcscd> {
  if (existsSync(PID_FILE)) {
    const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
    const alive = (() => {
      try {
        process.kill(pid, 0);
        return pid > 0;
      } catch {
        return false;
      }
    })();
    if (alive) throw new Error(`a pcscd (pid ${pid}) is already running; stop it before the PC/SC tests`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'kiosk-pcscd-'));
  const confDir = join(dir, 'reader.conf.d');
  mkdirSync(confDir);
  const vpcdPort = await freePort();
  const hexPort = `0x${vpcdPort.toString(16).toUpperCase()}`;
  writeFileSync(
    join(confDir, 'vpcd'),
    `FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:${hexPort}\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID ${hexPort}\n`,
  );
  const socketPath = '/run/pcscd/pcscd.comm';
  const child: ChildProcess = spawn(
    'setpriv',
    ['--pdeathsig', 'KILL', 'pcscd', '--foreground', '--debug', '--config', confDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // vpcd listens once pcscd has loaded the reader; wait for its port.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pcscd exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`vpcd did not listen on ${vpcdPort}:\n${output}`);
    const listening = await new Promise<boolean>((resolve) => {
      import('node:net').then(({ Socket }) => {
        const probe = new Socket();
        probe.once('error', () => resolve(false));
        probe.connect(vpcdPort, '127.0.0.1', () => {
          probe.destroy();
          resolve(true);
        });
      });
    });
    if (listening) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    vpcdPort,
    socketPath,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

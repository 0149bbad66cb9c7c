import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KIOSK_CLI = fileURLToPath(new URL('../../src/cli/kiosk.ts', import.meta.url));

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  /** resolves with the first line matching `pattern`, or rejects when the process exits first */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the kiosk CLI from source, as `npm start` does, capturing stdout and stderr. */
export function spawnKiosk(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  return spawnScript(KIOSK_CLI, args, env);
}

/** Runs a TypeScript entry point from source (tsx), capturing stdout and stderr. */
export function spawnScript(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const waiter of waiters) waiter();
    }),
  );
  return {
    child,
    exited,
    output: () => output,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${output.slice(-3000)}`),
          );
        }, timeoutMs);
        const check = () => {
          const match = output.match(pattern);
          if (match) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(
              new Error(
                `process exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${output.slice(-3000)}`,
              ),
            );
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Pids of live processes whose command line contains `needle` (from /proc, no pgrep needed). */
export async function processesMatching(needle: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (cmdline.includes(needle) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

export interface DemoProcess {
  demo: Spawned;
  dataDir: string;
  uiUrl: string;
  brokerUrl: string;
  /** SIGINT and wait (if it still runs), then any child left behind killed and the data removed */
  stop(): Promise<void>;
}

export interface DemoOptions {
  kioskId: string;
  /** the temporary data directory's prefix */
  prefix: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** wait for the demo's vault load too: a citizen can start only once it has */
  vaultLoaded?: boolean;
}

/**
 * `kiosk demo` as a newcomer runs it (broker, registry and emulators in the rig process, the
 * kiosk with its UI server) on free ports, in a temporary data directory. The waits are limits,
 * not figures: how long start-up takes is measured in bench, not in tests.
 */
export async function startDemoProcess(options: DemoOptions): Promise<DemoProcess> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dataDir = mkdtempSync(join(tmpdir(), options.prefix));
  const demo = spawnKiosk(
    [
      'demo',
      '--data-dir',
      dataDir,
      '--ui-port',
      '0',
      '--broker-port',
      '0',
      '--kiosk-id',
      options.kioskId,
    ].concat(options.extraArgs ?? []),
    options.env,
  );
  try {
    const [, uiUrl = '', brokerUrl = ''] = await demo.waitFor(
      /demo ready: (http:\/\/127\.0\.0\.1:\d+) .*broker (mqtt:\/\/127\.0\.0\.1:\d+)/,
      60_000,
    );
    if (options.vaultLoaded) await demo.waitFor(/demo: vault loaded/, 60_000);
    return {
      demo,
      dataDir,
      uiUrl,
      brokerUrl,
      stop: async () => {
        if (demo.child.exitCode === null && demo.child.signalCode === null) {
          demo.child.kill('SIGINT');
          await demo.exited;
        }
        for (const pid of await processesMatching(dataDir)) process.kill(pid, 'SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    demo.child.kill('SIGKILL');
    throw error;
  }
}

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const FIRMWARE_DIR = fileURLToPath(new URL('../../../firmware/', import.meta.url));
export const FIRMWARE_ELF = `${FIRMWARE_DIR}build/dispenser.elf`;
export const SIM_BINARY = `${FIRMWARE_DIR}build/dispenser-sim`;

/** Builds the firmware ELF (with its size check) and the simavr host program; make is incremental. */
export function buildFirmwareAndSim(): string {
  return execFileSync('make', ['-C', FIRMWARE_DIR, 'all', 'sim'], { encoding: 'utf8', timeout: 120_000 });
}

/**
 * The dispenser firmware running in simavr (firmware/sim/dispenser_sim.c) with its UART on a pty.
 * `lines` are the simulator's mechanical events ("motor forward", "arrived station", "D13 1", ...).
 */
export interface FirmwareSim {
  ptyPath: string;
  lines(): string[];
  /** one control line for the simulated mechanics: jam, stall, take, place */
  control(line: 'jam' | 'stall' | 'take' | 'place'): void;
  waitForLine(pattern: RegExp, timeoutMs: number, after?: number): Promise<number>;
  stop(): Promise<void>;
  readonly process: ChildProcess;
}

export async function startFirmwareSim(timeoutMs = 10_000): Promise<FirmwareSim> {
  const child = spawn(SIM_BINARY, [FIRMWARE_ELF], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    lines.push(...complete);
    for (const waiter of waiters) waiter();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
      for (const waiter of waiters) waiter();
    }),
  );

  const waitForLine = (pattern: RegExp, waitMs: number, after = 0) =>
    new Promise<number>((resolve, reject) => {
      const check = () => {
        const index = lines.findIndex((line, i) => i >= after && pattern.test(line));
        if (index >= 0) {
          finish();
          resolve(index);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          finish();
          reject(new Error(`dispenser-sim exited before ${pattern}: ${stderr}\n${lines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no simulator line matching ${pattern} within ${waitMs} ms:\n${lines.join('\n')}`));
      }, waitMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const ptyLine = await waitForLine(/^pty \/dev\/pts\/\d+$/, timeoutMs).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    ptyPath: (lines[ptyLine] ?? '').slice('pty '.length),
    process: child,
    lines: () => [...lines],
    control(line) {
      child.stdin?.write(`${line}\n`);
    },
    waitForLine,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    },
  };
}

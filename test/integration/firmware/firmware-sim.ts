import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { SerialPort } from 'serialport';
import { fileURLToPath } from 'node:url';

export const FIRMWARE_DIR = fileURLToPath(new URL('../../../firmware/', import.meta.url));
export const FIRMWARE_ELF = `${FIRMWARE_DIR}build/dispenser.elf`;
/** A build that hangs on sysex 0x0F (FIRMWARE_TEST_HANG_SYSEX), for the watchdog test. */
export const HANG_TEST_ELF = `${FIRMWARE_DIR}build/dispenser-hang-test.elf`;
export const HANG_TEST_SYSEX = 0x0f;
export const SIM_BINARY = `${FIRMWARE_DIR}build/dispenser-sim`;

/** Builds the firmware ELFs (with the size check) and the simavr host program; make is incremental. */
export function buildFirmwareAndSim(): string {
  return execFileSync('make', ['-C', FIRMWARE_DIR, 'all', 'sim', 'watchdog-test'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/** The part of firmata-io's Board (lib/firmata.js) these tests use; the package ships no types. */
export interface FirmataBoard extends EventEmitter {
  firmware: { name: string; version: { major: number; minor: number } };
  version: { major: number; minor: number };
  pins: { supportedModes: number[]; analogChannel: number; mode?: number; state?: number }[];
  analogPins: number[];
  MODES: { INPUT: number; OUTPUT: number; PWM: number; ANALOG: number };
  sysexCommand(message: number[]): void;
  sysexResponse(command: number, handler: (data: number[]) => void): void;
  clearSysexResponse(command: number): void;
  queryPinState(pin: number, callback: () => void): void;
  queryFirmware(callback: () => void): void;
  pinMode(pin: number, mode: number): void;
  digitalRead(pin: number, callback: (value: number) => void): void;
  analogRead(pin: number, callback: (value: number) => void): void;
  reportAnalogPin(pin: number, enable: 0 | 1): void;
  setSamplingInterval(ms: number): void;
}
type FirmataConstructor = new (transport: SerialPort) => FirmataBoard;
export const { Firmata } = createRequire(import.meta.url)('firmata-io') as { Firmata: FirmataConstructor };

/** The simulator's stdin controls (firmware/sim/dispenser_sim.c). */
export type SimControl =
  | 'jam'
  | 'stall'
  | 'take'
  | 'place'
  | 'power-off'
  | 'reset'
  | 'clock'
  | 'slots'
  | `${'load' | 'empty'} ${number | 'all'}`
  | `a${number} ${number}`;

/**
 * The dispenser firmware running in simavr (firmware/sim/dispenser_sim.c) with its UART on a pty.
 * `lines` are the simulator's mechanical events ("motor forward", "arrived station", "D13 1", ...).
 */
export interface FirmwareSim {
  ptyPath: string;
  lines(): string[];
  /** one control line for the simulated mechanics (jam, stall, take, place), the vault's slots
   *  (`load 5`, `empty all`, `slots`), an analog input voltage (`a0 2500`: A0 at 2.5 V), or clock */
  control(line: SimControl): void;
  /** The same controls under the names of the Node emulator (devices/dispenser/emulator.ts),
   *  so that one driver suite can run against both: the move in progress or the next
   *  one jams (jam sensor) or never reaches its stop (motor timeout). */
  injectFault(fault: 'jam' | 'motor-timeout'): void;
  /** The citizen takes the card from the tray (the tray sensor falls). */
  takeCard(): void;
  waitForLine(pattern: RegExp, timeoutMs: number, after?: number): Promise<number>;
  stop(): Promise<void>;
  readonly process: ChildProcess;
}

export async function startFirmwareSim(
  elf = FIRMWARE_ELF,
  {
    timeoutMs = 10_000,
    env = {},
    link,
  }: {
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** a symlink to the pty at this path, stable across instances (unplug, replug) */
    link?: string;
  } = {},
): Promise<FirmwareSim> {
  const child = spawn(SIM_BINARY, link === undefined ? [elf] : [elf, link], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
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
    injectFault(fault) {
      child.stdin?.write(fault === 'jam' ? 'jam\n' : 'stall\n');
    },
    takeCard() {
      child.stdin?.write('take\n');
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

/**
 * The host's own time in a device operation, from bytes timestamped where they cross the pty on
 * the device's side (devices/transport/wire-clock.ts `tapWire`, or a relay for simavr).
 *
 * An operation alternates between two parties. The device has the turn from the moment the first
 * byte of a request reaches it until the last byte of its final answer to that request leaves it:
 * that span holds the request's and the answer's wire time and the device's own work, whatever
 * they are. The host has the turn before the first request, between a final answer and the next
 * request, and after the last final answer until the operation's promise resolves: serialport,
 * the pty, the event loop, the driver and its protocol stack. Host overhead = the host's turns.
 * No emulator constant enters the figure; if an emulator slept longer or shorter, the device's
 * turns would change and the host's would not.
 */
import type { WireEvent } from '../../devices/index.js';

/** A request reaching the device, or a final answer leaving it. */
export interface TurnMark {
  kind: 'request' | 'final';
  at: number;
}

/** A whole frame on one direction of the wire, with the times of its first and last bytes. */
export interface TimedFrame {
  bytes: Buffer;
  firstAt: number;
  lastAt: number;
}

/** Splits one direction's chunks into frames; byte-level, so simavr's byte-per-chunk UART works. */
export type Framer = (events: readonly WireEvent[]) => TimedFrame[];

/** The host's turns in order: before the first request, between answers and requests, at the end. */
export function hostTurnsMs(marks: readonly TurnMark[], start: number, end: number): number[] {
  let hostSince: number | undefined = start;
  const turns: number[] = [];
  for (const mark of [...marks].sort((a, b) => a.at - b.at)) {
    if (mark.kind === 'request' && hostSince !== undefined) {
      turns.push(Math.max(0, mark.at - hostSince));
      hostSince = undefined;
    } else if (mark.kind === 'final') {
      hostSince = mark.at;
    }
  }
  if (hostSince !== undefined) turns.push(Math.max(0, end - hostSince));
  return turns;
}

export function hostOverheadMs(marks: readonly TurnMark[], start: number, end: number): number {
  return hostTurnsMs(marks, start, end).reduce((sum, turn) => sum + turn, 0);
}

/** Every chunk seen in a window, kept by direction. */
export class WireLog {
  readonly events: WireEvent[] = [];
  readonly record = (event: WireEvent): void => {
    this.events.push(event);
  };

  between(start: number, end: number, direction: WireEvent['direction']): WireEvent[] {
    return this.events.filter((e) => e.direction === direction && e.at >= start && e.at <= end);
  }

  clear(): void {
    this.events.length = 0;
  }
}

/** The turn marks of one operation window: requests by their first byte, final answers by their last. */
export function turnMarks(
  log: WireLog,
  start: number,
  end: number,
  framer: Framer,
  isRequest: (frame: Buffer) => boolean,
  isFinal: (frame: Buffer) => boolean,
): TurnMark[] {
  const requests = framer(log.between(start, end, 'rx')).filter((f) => isRequest(f.bytes));
  const finals = framer(log.between(start, end, 'tx')).filter((f) => isFinal(f.bytes));
  return [
    ...requests.map((f) => ({ kind: 'request' as const, at: f.firstAt })),
    ...finals.map((f) => ({ kind: 'final' as const, at: f.lastAt })),
  ];
}

/** R30x packets: EF 01, address (4), PID, length (2), length bytes. */
export const r30xFramer: Framer = (events) => {
  const frames: TimedFrame[] = [];
  let bytes: number[] = [];
  let firstAt = 0;
  for (const event of events)
    for (const byte of event.bytes) {
      if (bytes.length === 0) {
        if (byte !== 0xef) continue;
        firstAt = event.at;
      }
      bytes.push(byte);
      if (bytes.length === 2 && byte !== 0x01) bytes = [];
      const length = bytes.length >= 9 ? ((bytes[7] as number) << 8) | (bytes[8] as number) : -1;
      if (length >= 0 && bytes.length === 9 + length) {
        frames.push({ bytes: Buffer.from(bytes), firstAt, lastAt: event.at });
        bytes = [];
      }
    }
  return frames;
};

/** Firmata sysex messages (F0 … F7); other Firmata messages are not turns of a dispenser command. */
export const sysexFramer: Framer = (events) => {
  const frames: TimedFrame[] = [];
  let bytes: number[] | undefined;
  let firstAt = 0;
  for (const event of events)
    for (const byte of event.bytes) {
      if (byte === 0xf0) {
        bytes = [byte];
        firstAt = event.at;
      } else if (bytes) {
        bytes.push(byte);
        if (byte === 0xf7) {
          frames.push({ bytes: Buffer.from(bytes), firstAt, lastAt: event.at });
          bytes = undefined;
        }
      }
    }
  return frames;
};

export const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export const figure = (name: string, value: string, target: string): void => {
  process.stdout.write(`figure: ${name}: ${value} (target: ${target})\n`);
};

/** Wall time and host overhead of each run of one operation. */
export interface CycleTimes {
  totalMs: number[];
  overheadMs: number[];
}

/** The first run after a port opens warms up serialport and the pty; it is left out. */
const WARMUP = 1;

/**
 * Runs the production path and its baseline in alternating rounds, so both see the same load on a
 * shared machine (a baseline run minutes later would measure a different machine).
 */
export async function interleaved(
  rounds: number,
  runsPerRound: number,
  production: (runs: number) => Promise<CycleTimes>,
  baseline: (runs: number) => Promise<CycleTimes>,
): Promise<{ production: CycleTimes; baseline: CycleTimes }> {
  const all = { production: { totalMs: [], overheadMs: [] }, baseline: { totalMs: [], overheadMs: [] } };
  const keep = (into: CycleTimes, times: CycleTimes) => {
    into.totalMs.push(...times.totalMs.slice(WARMUP));
    into.overheadMs.push(...times.overheadMs.slice(WARMUP));
  };
  for (let round = 0; round < rounds; round++) {
    keep(all.production, await production(runsPerRound + WARMUP));
    keep(all.baseline, await baseline(runsPerRound + WARMUP));
  }
  return all;
}

/** Prints the operation's figure and its baseline's: medians after the warm-up runs. */
export function report(name: string, driver: CycleTimes, baseline: CycleTimes, baselineName: string): void {
  const [total, overhead] = [median(driver.totalMs), median(driver.overheadMs)];
  const baseOverhead = median(baseline.overheadMs);
  process.stdout.write(
    `${name}: ${total.toFixed(1)} ms wall, of which the device's turns ${(total - overhead).toFixed(1)} ms ` +
      `(median of ${driver.totalMs.length}, baseline runs interleaved)\n`,
  );
  figure(`host overhead per ${name}`, `${overhead.toFixed(2)} ms`, '≤ 10 ms');
  figure(`host overhead per ${name}, baseline ${baselineName}`, `${baseOverhead.toFixed(2)} ms`, 'baseline');
  // What the driver adds over the bare client; within the noise of a loaded machine it can be < 0.
  process.stdout.write(
    `${name}: the driver's share over the baseline: ${(overhead - baseOverhead).toFixed(2)} ms\n`,
  );
}

/**
 * One dispense cycle — MOVE_TO_STATION then RETURN_TO_SLOT of one card — timed two ways on the
 * same board and the same pty, with the host's overhead taken from the bytes at the device's end
 * (wire-overhead.ts):
 * - the production path: the dispenser driver (johnny-five over Firmata, devices/dispenser);
 * - the baseline: a bare serialport client writing the same sysex commands and scanning for the
 *   final replies, the floor any host pays for serialport, the pty and the event loop.
 */
import { SerialPort } from 'serialport';
import { dispenserProtocol, JohnnyFiveDispenser } from '../../devices/index.js';
import { type CycleTimes, hostOverheadMs, sysexFramer, turnMarks, type WireLog } from './wire-overhead.js';

const BAUD = 57600;
const { DISPENSER_SYSEX, EVENT, OP, encodeDispenserCommand } = dispenserProtocol;
const FINAL_EVENTS = new Set<number>([EVENT.done, EVENT.fault, EVENT.state]);
const isRequest = (frame: Buffer) => frame[1] === DISPENSER_SYSEX;
const isFinal = (frame: Buffer) => frame[1] === DISPENSER_SYSEX && FINAL_EVENTS.has(frame[2] as number);

async function timed(log: WireLog, times: CycleTimes, cycle: () => Promise<void>): Promise<void> {
  const start = performance.now();
  await cycle();
  const end = performance.now();
  times.totalMs.push(end - start);
  times.overheadMs.push(
    hostOverheadMs(turnMarks(log, start, end, sysexFramer, isRequest, isFinal), start, end),
  );
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('dispenser did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function driverCycles(
  path: string,
  log: WireLog,
  slot: number,
  runs: number,
): Promise<CycleTimes> {
  const dispenser = new JohnnyFiveDispenser({ path, baudRate: BAUD, retryMs: 100 });
  const times: CycleTimes = { totalMs: [], overheadMs: [] };
  await dispenser.start();
  try {
    await until(() => dispenser.health === 'ok', 15_000);
    for (let run = 0; run < runs; run++)
      await timed(log, times, async () => {
        await dispenser.moveToStation(slot);
        await dispenser.returnToSlot(slot);
      });
  } finally {
    await dispenser.stop();
  }
  return times;
}

export async function bareSerialCycles(
  path: string,
  log: WireLog,
  slot: number,
  runs: number,
): Promise<CycleTimes> {
  const port = new SerialPort({ path, baudRate: BAUD, lock: false, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  let pending = Buffer.alloc(0);
  let resolveReply: ((event: number) => void) | undefined;
  port.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (let end = pending.indexOf(0xf7); end >= 0; end = pending.indexOf(0xf7)) {
      const start = pending.lastIndexOf(0xf0, end);
      const frame = start >= 0 ? pending.subarray(start, end + 1) : Buffer.alloc(0);
      pending = pending.subarray(end + 1);
      if (frame.length === 6 && isFinal(frame)) resolveReply?.(frame[2] as number);
    }
  });
  let seq = 0;
  const move = async (op: number) => {
    seq = (seq % 100) + 1;
    const reply = new Promise<number>((resolve) => (resolveReply = resolve));
    port.write(encodeDispenserCommand({ op, seq, arg: slot }));
    if ((await reply) !== EVENT.done) throw new Error(`bare serial move ${op} failed`);
  };
  const times: CycleTimes = { totalMs: [], overheadMs: [] };
  try {
    for (let run = 0; run < runs; run++)
      await timed(log, times, async () => {
        await move(OP.moveToStation);
        await move(OP.returnToSlot);
      });
  } finally {
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
  return times;
}

/**
 * Dispenser firmware in simavr (issue 8). Prints `figure: value (target: …)` lines.
 *
 * - move time ÷ reference mechanics: MOVE_TO_STATION and RETURN_TO_SLOT from the command to DONE,
 *   through serialport, the pty, simavr and the firmware, divided by what PROTOCOL.md's reference
 *   mechanics take (800 ms) plus the wire time of the exchange at 57600 baud. 1.00 means the
 *   simulated board keeps wall-clock time and the host adds nothing.
 * - simulated ÷ wall clock, throttled: the simulator's clock against the wall over the whole run.
 * - simulated ÷ wall clock, unthrottled: how much faster than real time simavr runs the firmware
 *   here — the headroom the throttle has before a loaded machine makes the board run slow.
 */
import { SerialPort } from 'serialport';
import {
  buildFirmwareAndSim,
  Firmata,
  type FirmataBoard,
  type FirmwareSim,
  startFirmwareSim,
} from '../../test/integration/firmware/firmware-sim.js';

const BAUD = 57600;
const RUNS = Number(process.env.BENCH_RUNS ?? 4);
const DISPENSER = 0x01;
const MOVE_TO_STATION = 0x01;
const RETURN_TO_SLOT = 0x04;
const DONE = 0x11;
const REFERENCE_MOVE_MS = 800; // PROTOCOL.md: station ← slot and slot ← station
const EXCHANGE_BYTES = 6 * 3; // command, ACCEPTED, DONE
const wireMs = (bytes: number) => (bytes * 10 * 1000) / BAUD; // 8N1: 10 bits a byte

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function openBoard(
  sim: FirmwareSim,
): Promise<{ port: SerialPort; io: FirmataBoard; replies: number[][] }> {
  const port = new SerialPort({ path: sim.ptyPath, baudRate: BAUD });
  const io = new Firmata(port);
  const replies: number[][] = [];
  io.clearSysexResponse(DISPENSER);
  io.sysexResponse(DISPENSER, (data) => replies.push(data));
  await new Promise<void>((resolve) => io.once('ready', () => resolve()));
  return { port, io, replies };
}

async function readClock(sim: FirmwareSim): Promise<{ simulatedUs: number; wallUs: number }> {
  const from = sim.lines().length;
  sim.control('clock');
  const index = await sim.waitForLine(/^clock \d+ \d+$/, 5000, from);
  const [, simulated, wall] = (sim.lines()[index] ?? '').split(' ');
  return { simulatedUs: Number(simulated), wallUs: Number(wall) };
}

async function timedMove(io: FirmataBoard, replies: number[][], op: number, seq: number): Promise<number> {
  const started = performance.now();
  io.sysexCommand([DISPENSER, op, seq, 0]);
  while (!replies.some((reply) => reply[1] === seq && reply[0] !== 0x10)) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const final = replies.find((reply) => reply[1] === seq && reply[0] !== 0x10);
  if (final?.[0] !== DONE) throw new Error(`move ${op} failed: ${JSON.stringify(final)}`);
  return performance.now() - started;
}

async function throttled(): Promise<void> {
  const sim = await startFirmwareSim();
  const { port, io, replies } = await openBoard(sim);
  try {
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      times.push(await timedMove(io, replies, MOVE_TO_STATION, 2 * run + 1));
      times.push(await timedMove(io, replies, RETURN_TO_SLOT, 2 * run + 2));
    }
    const ideal = REFERENCE_MOVE_MS + wireMs(EXCHANGE_BYTES);
    const measured = median(times);
    const clock = await readClock(sim);
    process.stdout.write(
      `dispenser move, command to DONE: ${measured.toFixed(1)} ms (median of ${times.length})\n`,
    );
    process.stdout.write(`reference mechanics + wire time: ${ideal.toFixed(1)} ms\n`);
    process.stdout.write(
      `figure: firmware move time ÷ reference: ${(measured / ideal).toFixed(3)} (target: ≤ 1.05)\n`,
    );
    process.stdout.write(
      `figure: simulated ÷ wall clock, throttled: ${(clock.simulatedUs / clock.wallUs).toFixed(3)} (target: 0.97–1.00)\n`,
    );
  } finally {
    await new Promise<void>((resolve) => port.close(() => resolve()));
    await sim.stop();
  }
}

async function unthrottled(): Promise<void> {
  const sim = await startFirmwareSim(undefined, { env: { DISPENSER_SIM_UNTHROTTLED: '1' } });
  const { port } = await openBoard(sim);
  try {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const clock = await readClock(sim);
    process.stdout.write(
      `figure: simulated ÷ wall clock, unthrottled: ${(clock.simulatedUs / clock.wallUs).toFixed(2)} (target: ≥ 1.5, headroom for the throttle)\n`,
    );
  } finally {
    await new Promise<void>((resolve) => port.close(() => resolve()));
    await sim.stop();
  }
}

buildFirmwareAndSim();
await throttled();
await unthrottled();

/**
 * Dispenser firmware in simavr (issues 8 and 11). Prints `figure: …` lines.
 *
 * - host overhead per dispense cycle: MOVE_TO_STATION + RETURN_TO_SLOT through the johnny-five
 *   dispenser driver over Firmata, against the AVR firmware in simavr. The bytes are timestamped
 *   on the device's side of the host's pty (pty-relay.ts); the host's overhead is the cycle's
 *   wall time minus the device's turns (bench/devices/wire-overhead.ts), with no reference
 *   mechanics constant anywhere. Baseline: a bare serialport client sending the same commands
 *   through the same relay, interleaved with the driver's rounds.
 * - simulated ÷ wall clock, throttled: the simulator's clock against the wall over the whole run.
 * - simulated ÷ wall clock, unthrottled: how much faster than real time simavr runs the firmware
 *   here — the headroom the throttle has before a loaded machine makes the board run slow.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { createPtyPair } from '../../devices/index.js';
import {
  buildFirmwareAndSim,
  Firmata,
  type FirmwareSim,
  startFirmwareSim,
} from '../../test/integration/firmware/firmware-sim.js';
import { bareSerialCycles, driverCycles } from '../devices/dispense-cycle.js';
import { interleaved, report, WireLog } from '../devices/wire-overhead.js';
import { startPtyRelay } from './pty-relay.js';

const BAUD = 57600;
const RUNS = Number(process.env.BENCH_RUNS ?? 8);
const ROUNDS = 4;
const SLOT = 3;

async function readClock(sim: FirmwareSim): Promise<{ simulatedUs: number; wallUs: number }> {
  const from = sim.lines().length;
  sim.control('clock');
  const index = await sim.waitForLine(/^clock \d+ \d+$/, 5000, from);
  const [, simulated, wall] = (sim.lines()[index] ?? '').split(' ');
  return { simulatedUs: Number(simulated), wallUs: Number(wall) };
}

async function throttled(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-firmware-'));
  const sim = await startFirmwareSim();
  const pty = await createPtyPair(join(dir, 'dispenser'), join(dir, 'dispenser.relay'));
  const log = new WireLog();
  const relay = await startPtyRelay(pty.emulatorPath, sim.ptyPath, BAUD, log.record);
  try {
    sim.control(`load ${SLOT}`);
    const { production, baseline } = await interleaved(
      ROUNDS,
      Math.max(1, Math.ceil(RUNS / ROUNDS)),
      (runs) => driverCycles(pty.devicePath, log, SLOT, runs),
      (runs) => bareSerialCycles(pty.devicePath, log, SLOT, runs),
    );
    report('dispense cycle', production, baseline, 'bare serialport client');
    const clock = await readClock(sim);
    process.stdout.write(
      `figure: simulated ÷ wall clock, throttled: ${(clock.simulatedUs / clock.wallUs).toFixed(3)} (target: 0.97–1.00)\n`,
    );
  } finally {
    await relay.close();
    await pty.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function unthrottled(): Promise<void> {
  const sim = await startFirmwareSim(undefined, { env: { DISPENSER_SIM_UNTHROTTLED: '1' } });
  const port = new SerialPort({ path: sim.ptyPath, baudRate: BAUD });
  const io = new Firmata(port);
  try {
    await new Promise<void>((resolve) => io.once('ready', () => resolve()));
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

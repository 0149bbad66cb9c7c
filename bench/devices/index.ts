/**
 * Device-path benchmarks (issue 11, "honest device benchmarks"). Prints `figure: …` lines.
 *
 * Each figure is the host's own time per operation: the operation's wall time minus the device's
 * turns, measured from the bytes timestamped at the emulator's end of the pty (wire-overhead.ts).
 * The emulators' sleep constants appear nowhere. Each figure has a baseline measured in the same
 * run against the same emulator: a bare client that sends the same bytes without our driver.
 *
 * - capture+match: the fingerprint 1:1 path through SerialFingerprintSensor (capture-match.ts);
 * - dispense cycle: MOVE_TO_STATION + RETURN_TO_SLOT through the johnny-five dispenser driver over
 *   Firmata against the Node board emulator (dispense-cycle.ts). bench:firmware runs the same
 *   cycle against the AVR firmware in simavr.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createPtyPair,
  DispenserEmulator,
  FingerprintEmulator,
  syntheticFinger,
  tapWire,
} from '../../devices/index.js';
import { bareCaptureMatch, driverCaptureMatch } from './capture-match.js';
import { bareSerialCycles, driverCycles } from './dispense-cycle.js';
import { interleaved, report, WireLog } from './wire-overhead.js';

const BAUD = 57600;
const RUNS = Number(process.env.BENCH_RUNS ?? 16);
const ROUNDS = 4;
const SLOT = 3;

async function captureMatch(dir: string): Promise<void> {
  const pty = await createPtyPair(join(dir, 'fp'), join(dir, 'fp.emu'));
  const log = new WireLog();
  const untap = tapWire(pty.emulatorPath, log.record);
  const emulator = new FingerprintEmulator({ path: pty.emulatorPath, baudRate: BAUD });
  const finger = syntheticFinger('bench');
  try {
    await emulator.start();
    emulator.placeFinger(finger);
    const { production, baseline } = await interleaved(
      ROUNDS,
      Math.ceil(RUNS / ROUNDS),
      (runs) => driverCaptureMatch(pty.devicePath, BAUD, log, finger, runs),
      (runs) => bareCaptureMatch(pty.devicePath, BAUD, log, finger, emulator.packetSize, runs),
    );
    report('capture+match', production, baseline, 'bare serialport client');
  } finally {
    untap();
    await emulator.stop();
    await pty.close();
  }
}

async function dispenseCycle(dir: string): Promise<void> {
  const pty = await createPtyPair(join(dir, 'dispenser'), join(dir, 'dispenser.emu'));
  const log = new WireLog();
  const untap = tapWire(pty.emulatorPath, log.record);
  const emulator = new DispenserEmulator({ path: pty.emulatorPath, baudRate: BAUD });
  try {
    await emulator.start();
    emulator.loadCards([SLOT]);
    // A cycle is ~1.6 s of mechanics: a third of the capture+match runs.
    const { production, baseline } = await interleaved(
      ROUNDS,
      Math.max(1, Math.ceil(RUNS / 3 / ROUNDS)),
      (runs) => driverCycles(pty.devicePath, log, SLOT, runs),
      (runs) => bareSerialCycles(pty.devicePath, log, SLOT, runs),
    );
    report('dispense cycle', production, baseline, 'bare serialport client');
  } finally {
    untap();
    await emulator.stop();
    await pty.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-devices-'));
  try {
    await captureMatch(dir);
    await dispenseCycle(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

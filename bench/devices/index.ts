/**
 * Device-path benchmarks (issue 4, item 6). Prints `figure: value (target: …)` lines.
 *
 * fingerprint capture+match: the 1:1 verification path (DownChar of the reference template,
 * GenImg, Img2Tz, Match) through the real driver, serialport and a pty to the emulator, divided by
 * the best the hardware could do: the wire time of every byte of the exchange at 57600 baud 8N1
 * plus the sensor's declared processing times (SENSOR_TIMING_MS). 1.00 would mean the host adds
 * nothing; the target allows 5 % for the event loop, serialport and the pty.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createPtyPair,
  FingerprintEmulator,
  fingerprintProtocol as fp,
  SENSOR_TIMING_MS,
  SerialFingerprintSensor,
  syntheticFinger,
  WireClock,
} from '../../devices/index.js';

const BAUD = 57600;
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

function idealVerifyMs(packetSize: number): number {
  const template = Buffer.alloc(fp.TEMPLATE_BYTES);
  const sent = [
    fp.commands.downChar(2),
    ...fp.dataPackets(template, packetSize),
    fp.commands.genImg(),
    fp.commands.img2Tz(1),
    fp.commands.match(),
  ];
  const received = [fp.ack(0), fp.ack(0), fp.ack(0), fp.ack(0, [0, 180])];
  const bytes = [...sent, ...received].reduce((sum, packet) => sum + packet.length, 0);
  const sensorMs =
    SENSOR_TIMING_MS.other + SENSOR_TIMING_MS.genImg + SENSOR_TIMING_MS.img2Tz + SENSOR_TIMING_MS.match;
  return WireClock.wireMs(bytes, BAUD) + sensorMs;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-devices-'));
  const pty = await createPtyPair(join(dir, 'fp'), join(dir, 'fp.emu'));
  const emulator = new FingerprintEmulator({ path: pty.emulatorPath, baudRate: BAUD });
  const sensor = new SerialFingerprintSensor({ path: pty.devicePath, baudRate: BAUD, pollMs: 0 });
  try {
    await emulator.start();
    await sensor.start();
    const { packetSize } = await sensor.readSystemParameters();
    const finger = syntheticFinger('bench');
    emulator.placeFinger(finger);
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      const result = await sensor.verifyFinger(finger.template, { timeoutMs: 5000 });
      times.push(performance.now() - started);
      if (!result.matched) throw new Error('benchmark finger did not match');
    }
    const ideal = idealVerifyMs(packetSize);
    const measured = median(times);
    process.stdout.write(`fingerprint capture+match path: ${measured.toFixed(1)} ms (median of ${RUNS})\n`);
    process.stdout.write(`fingerprint wire+sensor time at ${BAUD} baud: ${ideal.toFixed(1)} ms\n`);
    process.stdout.write(
      `figure: fingerprint capture+match ÷ (wire + sensor time): ${(measured / ideal).toFixed(3)} (target: ≤ 1.05)\n`,
    );
  } finally {
    await sensor.stop();
    await emulator.stop();
    await pty.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

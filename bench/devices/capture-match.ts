/**
 * One 1:1 capture+match — DownChar of the reference template (ack, then its data packets), GenImg,
 * Img2Tz, Match — timed two ways against the same emulator on the same pty, with the host's
 * overhead taken from the bytes at the emulator's end (wire-overhead.ts):
 * - the production path: SerialFingerprintSensor.verifyFinger (devices/fingerprint/driver.ts);
 * - the baseline: a bare serialport client writing the same packets and counting answer bytes,
 *   the floor any host pays for serialport, the pty and the event loop.
 */
import { SerialPort } from 'serialport';
import {
  fingerprintProtocol as fp,
  SerialFingerprintSensor,
  type SyntheticFinger,
} from '../../devices/index.js';
import {
  type CycleTimes,
  hostOverheadMs,
  hostTurnsMs,
  r30xFramer,
  turnMarks,
  type WireLog,
} from './wire-overhead.js';

const isFinal = (frame: Buffer) => frame[6] === fp.PID.ack || frame[6] === fp.PID.endData;

async function timed(log: WireLog, times: CycleTimes, operation: () => Promise<void>): Promise<void> {
  const start = performance.now();
  await operation();
  const end = performance.now();
  times.totalMs.push(end - start);
  const marks = turnMarks(log, start, end, r30xFramer, () => true, isFinal);
  times.overheadMs.push(hostOverheadMs(marks, start, end));
  if (process.env.BENCH_TURNS)
    process.stdout.write(
      `host turns (ms): ${hostTurnsMs(marks, start, end)
        .map((t) => t.toFixed(2))
        .join(' ')}\n`,
    );
}

export async function driverCaptureMatch(
  path: string,
  baudRate: number,
  log: WireLog,
  finger: SyntheticFinger,
  runs: number,
): Promise<CycleTimes> {
  const sensor = new SerialFingerprintSensor({ path, baudRate, pollMs: 0 });
  const times: CycleTimes = { totalMs: [], overheadMs: [] };
  await sensor.start();
  try {
    await sensor.readSystemParameters();
    for (let run = 0; run < runs; run++)
      await timed(log, times, async () => {
        const result = await sensor.verifyFinger(finger.template, { timeoutMs: 5000 });
        if (!result.matched) throw new Error('benchmark finger did not match');
      });
  } finally {
    await sensor.stop();
  }
  return times;
}

export async function bareCaptureMatch(
  path: string,
  baudRate: number,
  log: WireLog,
  finger: SyntheticFinger,
  packetSize: number,
  runs: number,
): Promise<CycleTimes> {
  const port = new SerialPort({ path, baudRate, lock: false, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  let received = 0;
  let wake: (() => void) | undefined;
  port.on('data', (chunk: Buffer) => {
    received += chunk.length;
    wake?.();
  });
  let expected = 0;
  /** The bare client knows each answer's size from the manual and waits for that many bytes. */
  const ackBytes = async (count: number) => {
    expected += count;
    while (received < expected) await new Promise<void>((resolve) => (wake = resolve));
  };
  const write = (bytes: Buffer) => new Promise<void>((resolve) => port.write(bytes, () => resolve()));
  const plainAck = fp.ack(0).length;
  const matchAck = fp.ack(0, [0, 0]).length;
  const times: CycleTimes = { totalMs: [], overheadMs: [] };
  try {
    for (let run = 0; run < runs; run++)
      await timed(log, times, async () => {
        received = 0;
        expected = 0;
        await write(fp.commands.downChar(2));
        await ackBytes(plainAck);
        await write(Buffer.concat(fp.dataPackets(finger.template, packetSize)));
        await write(fp.commands.genImg());
        await ackBytes(plainAck);
        await write(fp.commands.img2Tz(1));
        await ackBytes(plainAck);
        await write(fp.commands.match());
        await ackBytes(matchAck);
      });
  } finally {
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
  return times;
}

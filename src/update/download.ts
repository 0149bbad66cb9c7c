/**
 * Downloads one target into a `.part` file that survives restarts: a second call resumes with an
 * HTTP Range request from the bytes already on disk, so a power cut at 90 % costs 10 %, not 100 %.
 * Bandwidth is capped (the kiosk shares a thin uplink with its MQTT link) and free space is
 * checked first. Nothing here trusts the bytes: the caller verifies them against signed metadata.
 */
import { createWriteStream } from 'node:fs';
import { rm, stat, statfs, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpdateRefused } from './errors.js';
import { openStream, type UpdateSource } from './transport.js';

export interface DownloadRequest {
  url: string;
  source: UpdateSource;
  partFile: string;
  /** Length from signed metadata: the download never grows past it. */
  length: number;
  /** Bytes a second; 0 or undefined for no cap. */
  maxBytesPerSecond?: number;
  /** Space to keep free beyond the download (the unpacked release needs room too). */
  reserveBytes?: number;
  signal?: AbortSignal;
  /** Bytes on disk so far (resumed ones included) after each chunk: the runtime reports progress. */
  onProgress?: (written: number, length: number) => void;
}

export interface DownloadResult {
  /** Bytes received over the wire in this call (resumed bytes are not received again). */
  received: number;
  resumedFrom: number;
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

export async function assertDiskSpace(dir: string, needed: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < needed)
    throw new UpdateRefused('disk-space', `needs ${needed} bytes free in ${dir}, has ${free}`);
}

/**
 * The cap's schedule, pure (the clock is passed in): after `sent` bytes since `startedAtMs`, the
 * next chunk may only be read once `sent / rate` seconds have passed. Measured from the start, not
 * per chunk, so a link slower than the cap for a while is not paced further, and the average over
 * the download never exceeds the cap by more than the one chunk just read.
 */
export class RateSchedule {
  private sent = 0;
  constructor(
    private readonly bytesPerSecond: number,
    private readonly startedAtMs: number,
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError('a rate cap must be above 0 bytes a second');
  }

  /** Records a chunk read at `nowMs`; returns how long to wait before reading the next one. */
  waitAfter(bytes: number, nowMs: number): number {
    this.sent += bytes;
    const dueAtMs = this.startedAtMs + (this.sent / this.bytesPerSecond) * 1000;
    return Math.max(0, dueAtMs - nowMs);
  }
}

/** Paces a stream to its cap by sleeping whenever it runs ahead of the schedule. */
class Throttle {
  private readonly schedule: RateSchedule;
  constructor(rate: number) {
    this.schedule = new RateSchedule(rate, performance.now());
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const wait = this.schedule.waitAfter(bytes, performance.now());
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
}

export async function downloadResumable(request: DownloadRequest): Promise<DownloadResult> {
  let have = await sizeOf(request.partFile);
  if (have > request.length) {
    await rm(request.partFile);
    have = 0;
  }
  await assertDiskSpace(dirname(request.partFile), request.length - have + (request.reserveBytes ?? 0));
  if (have === request.length) return { received: 0, resumedFrom: have };

  const opened = await openStream(request.url, request.source, have, request.signal);
  if (opened.start !== have) await truncate(request.partFile, opened.start).catch(() => undefined);
  const out = createWriteStream(request.partFile, { flags: opened.start > 0 ? 'a' : 'w' });
  const throttle = request.maxBytesPerSecond ? new Throttle(request.maxBytesPerSecond) : undefined;
  let written = opened.start;
  let received = 0;
  try {
    for await (const chunk of opened.body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (written + chunk.length > request.length) {
        throw new UpdateRefused('tampered-target', 'download is longer than signed metadata says');
      }
      written += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      request.onProgress?.(written, request.length);
      await throttle?.take(chunk.length, request.signal);
    }
  } finally {
    opened.body.destroy();
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
  return { received, resumedFrom: opened.start };
}

/**
 * The bandwidth cap of bundle downloads (src/update/download.ts, `update.maxBytesPerSecond`) as
 * pure logic: the schedule is driven by a simulated clock and a simulated link (chunk sizes and
 * arrival delays drawn by fast-check), so nothing here waits or times anything. The measured rate
 * on a real loopback download is a bench figure (`npm run bench:update`, capped download rate).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateSchedule } from '../../../src/update/download.js';

interface Chunk {
  bytes: number;
  /** how long the link takes to deliver it once asked (ms) */
  linkMs: number;
}

/** Runs a download through the schedule on a simulated clock; returns what happened when. */
function simulate(rate: number, chunks: Chunk[], startMs = 1_000) {
  const schedule = new RateSchedule(rate, startMs);
  let now = startMs;
  let sent = 0;
  const points: Array<{ atMs: number; sentBefore: number; sentAfter: number; waitMs: number }> = [];
  for (const chunk of chunks) {
    now += chunk.linkMs; // the chunk arrives
    const sentBefore = sent;
    sent += chunk.bytes;
    const waitMs = schedule.waitAfter(chunk.bytes, now);
    points.push({ atMs: now - startMs, sentBefore, sentAfter: sent, waitMs });
    now += waitMs; // the downloader sleeps before reading on
  }
  return { points, elapsedMs: now - startMs, sent };
}

const rates = fc.integer({ min: 1, max: 10_000_000 });
const chunkList = fc.array(
  fc.record({
    bytes: fc.integer({ min: 1, max: 256 * 1024 }),
    linkMs: fc.double({ min: 0, max: 500, noNaN: true }),
  }),
  { minLength: 1, maxLength: 200 },
);
/** float slack: a few bytes' worth, never a chunk's */
const SLACK = 1e-6;

describe('download bandwidth cap schedule (update.maxBytesPerSecond)', () => {
  it('never lets the average from the start exceed the cap once it has waited', () => {
    fc.assert(
      fc.property(rates, chunkList, (rate, chunks) => {
        const { points } = simulate(rate, chunks);
        for (const point of points) {
          const readyAtMs = point.atMs + point.waitMs;
          expect(point.sentAfter).toBeLessThanOrEqual((rate * readyAtMs) / 1000 + SLACK * rate);
        }
      }),
    );
  });

  it('at any moment, holds at most one chunk more than the cap allows (no bursts)', () => {
    fc.assert(
      fc.property(rates, chunkList, (rate, chunks) => {
        for (const point of simulate(rate, chunks).points)
          expect(point.sentBefore).toBeLessThanOrEqual((rate * point.atMs) / 1000 + SLACK * rate);
      }),
    );
  });

  it('on a link faster than the cap, takes exactly total/cap: the cap is reached, not undershot', () => {
    fc.assert(
      fc.property(rates, chunkList, (rate, chunks) => {
        const instant = chunks.map((chunk) => ({ ...chunk, linkMs: 0 }));
        const { elapsedMs, sent } = simulate(rate, instant);
        expect(elapsedMs).toBeCloseTo((sent / rate) * 1000, 6);
      }),
    );
  });

  it('on a link slower than the cap, never holds the download back: a slow link is not slowed further', () => {
    fc.assert(
      fc.property(rates, chunkList, (rate, chunks) => {
        // each chunk takes more than its share of the cap to arrive
        const slow = chunks.map((chunk) => ({
          ...chunk,
          linkMs: (chunk.bytes / rate) * 1000 + chunk.linkMs + 1,
        }));
        // the downloader sleeps only on a positive wait (Throttle.take): it is never asked to
        const heldBack = simulate(rate, slow).points.filter((point) => point.waitMs > 0);
        expect(heldBack).toEqual([]);
      }),
    );
  });

  it('catches up after a stall without exceeding the cap overall (the budget is from the start)', () => {
    // 1000 B/s; a 3 s stall, then four 1000-byte chunks at once: the first three are owed by the
    // stall and pass at once, the fourth waits until 4 s from the start
    const { points } = simulate(1000, [
      { bytes: 1000, linkMs: 3000 },
      { bytes: 1000, linkMs: 0 },
      { bytes: 1000, linkMs: 0 },
      { bytes: 1000, linkMs: 0 },
    ]);
    expect(points.map((p) => p.waitMs)).toEqual([0, 0, 0, 1000]);
  });

  it('refuses a cap that is not above zero (0 means no cap and never reaches the schedule)', () => {
    for (const rate of [0, -1, Number.NaN]) expect(() => new RateSchedule(rate, 0)).toThrow(RangeError);
  });
});

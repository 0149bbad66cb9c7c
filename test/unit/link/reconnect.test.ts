import { describe, expect, it } from 'vitest';
import { reconnectDelay, reconnectWindow } from '../../../src/link/reconnect.js';
import { fullJitterDelay } from '../../../src/util/backoff.js';

const policy = { minMs: 1000, maxMs: 60_000 }; // the config's defaults (mqtt.reconnect)

/** mulberry32: a seeded PRNG, so the simulated fleet is the same on every run */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `kiosks` lose the broker at t = 0; it is back at `outageMs`. Every attempt before that fails at
 * once and the next is scheduled by `delay`; the first at or after it connects. Returns the
 * reconnects per second after the broker is back, and the last one's time after it.
 */
function simulateOutage(
  delay: (attempt: number, random: () => number) => number,
  kiosks: number,
  outageMs: number,
  seed: number,
): { perSecond: Map<number, number>; lastMs: number } {
  const random = seeded(seed);
  const perSecond = new Map<number, number>();
  let lastMs = 0;
  for (let kiosk = 0; kiosk < kiosks; kiosk++) {
    let at = 0;
    for (let attempt = 0; at < outageMs; attempt++) at += delay(attempt, random);
    const second = Math.floor((at - outageMs) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    lastMs = Math.max(lastMs, at - outageMs);
  }
  return { perSecond, lastMs };
}
const busiestShare = (perSecond: Map<number, number>, kiosks: number) =>
  Math.max(...perSecond.values()) / kiosks;

describe('the link reconnect schedule', () => {
  it('draws each wait in [0, min(maxMs, minMs·3^attempt)] and covers that whole range', () => {
    expect([0, 1, 2, 3, 4, 5, 40].map((attempt) => reconnectWindow(attempt, policy))).toEqual([
      1000, 3000, 9000, 27_000, 60_000, 60_000, 60_000,
    ]);
    for (let attempt = 0; attempt < 40; attempt++) {
      expect(reconnectDelay(attempt, policy, () => 0)).toBe(0);
      expect(reconnectDelay(attempt, policy, () => 0.5)).toBe(
        Math.round(reconnectWindow(attempt, policy) / 2),
      );
    }
  });

  it('respects a configured policy (minMs, maxMs) as given', () => {
    const tight = { minMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3].map((attempt) => reconnectWindow(attempt, tight))).toEqual([100, 300, 900, 1000]);
  });

  it('spreads 10,000 kiosks after a 15 s outage: busiest second ≤ 10 %, all back within maxMs', () => {
    const kiosks = 10_000;
    const tripling = simulateOutage(
      (attempt, random) => reconnectDelay(attempt, policy, random),
      kiosks,
      15_000,
      7,
    );
    const doubling = simulateOutage(
      (attempt, random) => fullJitterDelay(attempt, policy, random),
      kiosks,
      15_000,
      7,
    );
    const share = busiestShare(tripling.perSecond, kiosks);
    expect(share).toBeLessThanOrEqual(0.1);
    // the reason for tripling: a flatter return than the doubling window gives
    expect(share).toBeLessThan(busiestShare(doubling.perSecond, kiosks));
    expect(tripling.lastMs).toBeLessThanOrEqual(policy.maxMs);
    expect([...tripling.perSecond.values()].reduce((sum, count) => sum + count, 0)).toBe(kiosks);
  });
});

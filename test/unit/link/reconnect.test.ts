import { describe, expect, it } from 'vitest';
import { modelOutage, reconnectDelay, reconnectWindow } from '../../../src/link/reconnect.js';
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

  it('spreads 10,000 kiosks after a 15 s outage: busiest second ≤ 10 %, every kiosk back', () => {
    const kiosks = 10_000;
    const tripling = modelOutage(policy, kiosks, 15_000, seeded(7));
    const doubling = modelOutage(policy, kiosks, 15_000, seeded(7), fullJitterDelay);
    const share = busiestShare(tripling.perSecond, kiosks);
    expect(share).toBeLessThanOrEqual(0.1);
    // the reason for tripling: a flatter return than the doubling window gives
    expect(share).toBeLessThan(busiestShare(doubling.perSecond, kiosks));
    // how long the return takes is a figure of bench:fleet (the model's "all back after N s" line)
    expect([...tripling.perSecond.values()].reduce((sum, count) => sum + count, 0)).toBe(kiosks);
  });
});

/**
 * The kiosk link's reconnect schedule: full jitter (src/util/backoff.ts) whose window triples per
 * failed attempt, from `minMs` up to `maxMs` (the config's `mqtt.reconnect`).
 *
 * Why triple rather than double: when a broker comes back after an outage, the share of the fleet
 * that reconnects in the next second is about 1 / (mean wait of the attempt each kiosk is sleeping
 * in) = 2 / window. With the defaults (1 s … 60 s) doubling, a 15 s outage leaves most kiosks in
 * a 16 s window, about 8 % of the fleet in the busiest second; tripling puts them in a 27 s or
 * capped window: about 5 % (test/unit/link/reconnect.test.ts simulates it; bench:fleet measures
 * it on Mosquitto). The price: after a short blip a kiosk waits somewhat longer, never past
 * `maxMs`.
 *
 * mqtt.js's own `reconnectPeriod` is a fixed interval with no jitter: the link sets it to 0 and
 * calls `client.reconnect()` after this delay, once per close.
 */
import { type BackoffPolicy, fullJitterDelay } from '../util/backoff.js';

export const RECONNECT_GROWTH = 3;

/** The wait before reconnect attempt `attempt` (0 = the first after a close). */
export function reconnectDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  return fullJitterDelay(attempt, policy, random, RECONNECT_GROWTH);
}

/** The largest wait attempt `attempt` may draw. */
export function reconnectWindow(attempt: number, policy: BackoffPolicy): number {
  return reconnectDelay(attempt, policy, () => 1);
}

/**
 * The schedule's ideal outcome, for sizing `mqtt.reconnect` and as the bench's baseline: `kiosks`
 * lose the broker at once and it is back after `outageMs`; every attempt before that fails at
 * once, the first at or after it connects (no network or CPU time). Returns the reconnects per
 * second after the broker is back and the last one's delay.
 */
export function modelOutage(
  policy: BackoffPolicy,
  kiosks: number,
  outageMs: number,
  random: () => number = Math.random,
  delay: (attempt: number, policy: BackoffPolicy, random: () => number) => number = reconnectDelay,
): { perSecond: Map<number, number>; lastMs: number } {
  const perSecond = new Map<number, number>();
  let lastMs = 0;
  for (let kiosk = 0; kiosk < kiosks; kiosk++) {
    let at = 0;
    for (let attempt = 0; at < outageMs; attempt++) at += delay(attempt, policy, random);
    const second = Math.floor((at - outageMs) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    lastMs = Math.max(lastMs, at - outageMs);
  }
  return { perSecond, lastMs };
}

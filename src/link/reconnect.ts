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

/**
 * Capped exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS Architecture
 * Blog, 2015): delay = random(0, min(cap, base · growth^attempt)), growth 2 unless said. Full
 * jitter spreads a fleet that lost its broker at the same instant, so thousands of kiosks do not
 * reconnect in lock-step; the job queue uses the same curve so a failing job does not retry in a
 * tight loop.
 */
export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

export function fullJitterDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
  growth = 2,
): number {
  const ceiling = Math.min(policy.maxMs, policy.minMs * growth ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}

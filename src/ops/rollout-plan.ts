/**
 * The pure parts of a staged rollout: the order of the targets (canary first), the size of each
 * step, a kiosk's health regression against its baseline, and the abort verdict. No I/O, no clock.
 */
import {
  FAILED_OUTCOMES,
  type KioskOutcome,
  type KioskSnapshot,
  type RolloutKiosk,
  type RolloutPlan,
} from './rollout-record.js';

/** A plan that cannot run on these targets (a canary kiosk not among them, no targets). */
export class RolloutPlanInvalid extends Error {
  override readonly name = 'RolloutPlanInvalid';
}

/** How many kiosks the canary takes: the explicit ones, or ⌈percent⌉ of the targets (at least 1). */
export function canarySize(plan: RolloutPlan, targets: number): number {
  if ('kiosks' in plan.canary) return plan.canary.kiosks.length;
  return Math.min(targets, Math.max(1, Math.ceil((targets * plan.canary.percent) / 100)));
}

/** Targets in rollout order: the canary first (explicit kiosks, or the first of the sorted targets). */
export function rolloutOrder(plan: RolloutPlan, targets: readonly string[]): string[] {
  const unique = [...new Set(targets)].sort();
  if (unique.length === 0) throw new RolloutPlanInvalid('no kiosks to roll out to');
  if (!('kiosks' in plan.canary)) return unique;
  const outside = plan.canary.kiosks.filter((id) => !unique.includes(id));
  if (outside.length > 0)
    throw new RolloutPlanInvalid(`canary kiosk(s) ${outside.join(', ')} are not among the targets`);
  const canary = [...new Set(plan.canary.kiosks)];
  return [...canary, ...unique.filter((id) => !canary.includes(id))];
}

/** Size of step `index` (0 = canary; then constant k, or first, 2·first, 4·first…). */
export function stepSize(plan: RolloutPlan, index: number, targets: number): number {
  if (index === 0) return canarySize(plan, targets);
  if (plan.rate.kind === 'constant') return plan.rate.perStep;
  // doubling; capped so a long rollout cannot overflow
  return plan.rate.first * 2 ** Math.min(index - 1, 30);
}

const DEVICE_RANK: Record<string, number> = { ok: 0, disabled: 0, degraded: 1, missing: 2 };
const PART_RANK: Record<string, number> = { up: 0, starting: 0, degraded: 1, down: 2, stopped: 2 };

function worsened(
  kind: string,
  rank: Record<string, number>,
  before: Record<string, string>,
  after: Record<string, string>,
): string | undefined {
  for (const [name, state] of Object.entries(after)) {
    const was = before[name];
    const rankNow = rank[state] ?? 2;
    const rankBefore = was === undefined ? 0 : (rank[was] ?? 2);
    if (rankNow > rankBefore) return `${kind} ${name} ${was ?? 'new'} -> ${state}`;
  }
  return undefined;
}

/**
 * What got worse on a kiosk since its baseline: out of service, a device or a part down or
 * degraded. Going offline is judged only at the end of the soak (`offlineCounts`): a kiosk that
 * restarts to apply a setting is briefly offline on purpose.
 */
export function healthRegression(
  baseline: KioskSnapshot | undefined,
  now: KioskSnapshot | undefined,
  offlineCounts: boolean,
): string | undefined {
  if (!now) return undefined;
  if (!now.online) return offlineCounts && baseline?.online !== false ? 'offline' : undefined;
  if (now.outOfService && !baseline?.outOfService) return `out of service: ${now.outOfService}`;
  const baseParts = baseline?.parts ?? {};
  return (
    worsened('device', DEVICE_RANK, baseline?.devices ?? {}, now.devices) ??
    // parts come from telemetry: without any in the baseline there is nothing to compare them with
    (Object.keys(baseParts).length > 0 ? worsened('part', PART_RANK, baseParts, now.parts) : undefined)
  );
}

export interface OutcomeCounts {
  total: number;
  waiting: number;
  pushed: number;
  applied: number;
  healthy: number;
  skipped: number;
  failed: number;
}

/** The count an outcome adds to: failures are one bucket. */
export function outcomeBucket(outcome: KioskOutcome): Exclude<keyof OutcomeCounts, 'total'> {
  return FAILED_OUTCOMES.includes(outcome)
    ? 'failed'
    : (outcome as 'waiting' | 'pushed' | 'applied' | 'healthy' | 'skipped');
}

export function countOutcomes(kiosks: Readonly<Record<string, RolloutKiosk>>): OutcomeCounts {
  const counts: OutcomeCounts = {
    total: 0,
    waiting: 0,
    pushed: 0,
    applied: 0,
    healthy: 0,
    skipped: 0,
    failed: 0,
  };
  for (const kiosk of Object.values(kiosks)) {
    counts.total++;
    counts[outcomeBucket(kiosk.outcome)]++;
  }
  return counts;
}

/** Why the rollout must stop now, or undefined: failures beyond the plan's threshold. */
export function abortVerdict(plan: RolloutPlan, counts: OutcomeCounts): string | undefined {
  const { maxFailures, maxFailurePercent } = plan.abort;
  if (counts.failed > maxFailures)
    return `${counts.failed} kiosk(s) failed (threshold: more than ${maxFailures})`;
  const decided = counts.failed + counts.healthy + counts.applied;
  if (maxFailurePercent !== undefined && decided > 0) {
    const percent = (100 * counts.failed) / decided;
    if (percent > maxFailurePercent)
      return `${percent.toFixed(1)} % of updated kiosks failed (threshold: ${maxFailurePercent} %)`;
  }
  return undefined;
}

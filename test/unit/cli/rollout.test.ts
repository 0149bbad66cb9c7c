import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseRate, progressLine, rolloutSummary } from '../../../src/cli/rollout.js';
import type { RolloutProgress, RolloutRecord } from '../../../src/ops/rollout.js';

const counts = { total: 4, waiting: 1, pushed: 1, applied: 0, healthy: 1, skipped: 0, failed: 1 };
const event = (over: Partial<RolloutProgress>): RolloutProgress => ({
  rolloutId: '2026-11-30-0a0b0c0d',
  at: 0,
  kind: 'kiosk',
  state: 'running',
  stepsPlanned: 3,
  counts,
  ...over,
});

describe('kiosk-ops rollout output', () => {
  it('prints a line per step, names failures at once, and sums successes up per step', () => {
    expect(progressLine(event({ kind: 'step-started', step: 0, detail: '1 kiosk(s)' }))).toBe(
      'step 1/3 (canary): sending to 1 kiosk(s)',
    );
    expect(progressLine(event({ kind: 'step-done', step: 1 }))).toBe(
      'step 2/3 done: 1 healthy, 1 in progress, 1 failed, 0 skipped, 1 waiting',
    );
    expect(progressLine(event({ kioskId: 'hn-0002', outcome: 'refused', detail: 'not-newer' }))).toBe(
      'hn-0002: refused (not-newer)',
    );
    expect(progressLine(event({ kioskId: 'hn-0002', outcome: 'healthy' }))).toBeUndefined();
    expect(progressLine(event({ kind: 'aborted', state: 'aborted', detail: 'failure threshold' }))).toMatch(
      /^rollout aborted: failure threshold — /,
    );
  });

  it('sums a record up with one line per kiosk', () => {
    const record = {
      id: '2026-11-30-0a0b0c0d',
      state: 'aborted',
      reason: 'failure threshold',
      order: ['hn-0001', 'hn-0002'],
      kiosks: {
        'hn-0001': { outcome: 'unhealthy', step: 0, detail: 'device scanner ok -> missing' },
        'hn-0002': { outcome: 'waiting' },
      },
    } as unknown as RolloutRecord;
    expect(rolloutSummary(record).split('\n')).toEqual([
      'rollout 2026-11-30-0a0b0c0d aborted (failure threshold): 0 healthy, 1 failed, 0 skipped, 1 not sent',
      'hn-0001\tunhealthy\tstep 1\tdevice scanner ok -> missing',
      'hn-0002\twaiting',
    ]);
  });

  it('reads --rate as constant:K or exponential:K only', () => {
    expect(parseRate('constant:10')).toEqual({ kind: 'constant', perStep: 10 });
    expect(parseRate('exponential:2')).toEqual({ kind: 'exponential', first: 2 });
    for (const bad of ['constant:0', 'linear:3', 'exponential:', 'constant:1.5', ''])
      expect(() => parseRate(bad)).toThrow(InvalidArgumentError);
  });
});

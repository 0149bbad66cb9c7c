import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abortVerdict,
  canarySize,
  countOutcomes,
  healthRegression,
  RolloutPlanInvalid,
  rolloutOrder,
  stepSize,
} from '../../../src/ops/rollout-plan.js';
import {
  type KioskSnapshot,
  type RolloutPlan,
  RolloutRecordUnreadable,
  RolloutStore,
} from '../../../src/ops/rollout-record.js';
import { envelope } from '../../../src/link/messages.js';
import {
  configDriver,
  PayloadInvalid,
  plannedSteps,
  requestRolloutAction,
  RolloutEngine,
  type RolloutFleet,
  RolloutRefused,
} from '../../../src/ops/rollout.js';

const abort = { maxFailures: 0, ackTimeoutMs: 1000, soakMs: 0 };
const constant = (perStep: number): RolloutPlan => ({
  canary: { percent: 10 },
  rate: { kind: 'constant', perStep },
  abort,
});
const snapshot = (over: Partial<KioskSnapshot> = {}): KioskSnapshot => ({
  online: true,
  devices: { scanner: 'ok' },
  parts: { store: 'up', link: 'up' },
  seenAt: 1,
  ...over,
});

describe('rollout plan', () => {
  it('puts explicit canary kiosks first and refuses one outside the targets', () => {
    const plan: RolloutPlan = { ...constant(2), canary: { kiosks: ['kk-3', 'kk-1'] } };
    expect(rolloutOrder(plan, ['kk-2', 'kk-1', 'kk-3', 'kk-2'])).toEqual(['kk-3', 'kk-1', 'kk-2']);
    expect(() => rolloutOrder({ ...plan, canary: { kiosks: ['kk-9'] } }, ['kk-1'])).toThrow(
      RolloutPlanInvalid,
    );
    expect(() => rolloutOrder(plan, [])).toThrow(RolloutPlanInvalid);
  });

  it('sizes the canary by percentage, at least one kiosk, at most all', () => {
    expect(canarySize(constant(1), 1)).toBe(1);
    expect(canarySize(constant(1), 25)).toBe(3);
    expect(canarySize({ ...constant(1), canary: { percent: 100 } }, 7)).toBe(7);
  });

  it('steps at a constant rate, or doubling from the first', () => {
    const exponential: RolloutPlan = { ...constant(1), rate: { kind: 'exponential', first: 3 } };
    expect([1, 2, 3, 4].map((step) => stepSize(exponential, step, 100))).toEqual([3, 6, 12, 24]);
    expect([1, 2, 3].map((step) => stepSize(constant(5), step, 100))).toEqual([5, 5, 5]);
    // 100 kiosks: canary 10, then 5 per step: 18 more steps
    expect(plannedSteps(constant(5), 100)).toBe(19);
    // canary 10, then 3 + 6 + 12 + 24 + 48
    expect(plannedSteps(exponential, 100)).toBe(1 + 5);
  });

  it('every plan covers every target in finitely many steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 50 }),
        fc.boolean(),
        (targets, k, doubling) => {
          const plan: RolloutPlan = {
            ...constant(k),
            ...(doubling ? { rate: { kind: 'exponential', first: k } } : {}),
          };
          const steps = plannedSteps(plan, targets);
          let covered = 0;
          for (let step = 0; step < steps; step++) covered += stepSize(plan, step, targets);
          expect(covered).toBeGreaterThanOrEqual(targets);
          expect(covered - stepSize(plan, steps - 1, targets)).toBeLessThan(targets);
        },
      ),
    );
  });
});

describe('health regression', () => {
  it('names a device or part that got worse, or the kiosk going out of service', () => {
    expect(healthRegression(snapshot(), snapshot(), true)).toBeUndefined();
    expect(healthRegression(snapshot(), snapshot({ devices: { scanner: 'missing' } }), false)).toBe(
      'device scanner ok -> missing',
    );
    expect(healthRegression(snapshot(), snapshot({ parts: { store: 'up', link: 'down' } }), false)).toBe(
      'part link up -> down',
    );
    expect(healthRegression(snapshot(), snapshot({ outOfService: 'locked by operations' }), false)).toMatch(
      /out of service/,
    );
  });

  it('does not count what was already so before the update', () => {
    const before = snapshot({ devices: { scanner: 'degraded' }, outOfService: 'store full' });
    expect(
      healthRegression(
        before,
        snapshot({ devices: { scanner: 'degraded' }, outOfService: 'store full' }),
        true,
      ),
    ).toBeUndefined();
    // no telemetry in the baseline: parts are not compared
    expect(
      healthRegression(snapshot({ parts: {} }), snapshot({ parts: { sessions: 'degraded' } }), true),
    ).toBeUndefined();
  });

  it('counts offline only at the end of the soak (a kiosk may restart to apply a setting)', () => {
    expect(healthRegression(snapshot(), snapshot({ online: false }), false)).toBeUndefined();
    expect(healthRegression(snapshot(), snapshot({ online: false }), true)).toBe('offline');
  });
});

describe('abort verdict', () => {
  const counts = (failed: number, healthy: number) => ({
    ...countOutcomes({}),
    total: failed + healthy,
    failed,
    healthy,
  });
  it('aborts on one failure more than tolerated, or above the failure percentage', () => {
    expect(abortVerdict(constant(1), counts(0, 5))).toBeUndefined();
    expect(abortVerdict(constant(1), counts(1, 5))).toMatch(/1 kiosk\(s\) failed/);
    const tolerant: RolloutPlan = {
      ...constant(1),
      abort: { ...abort, maxFailures: 3, maxFailurePercent: 20 },
    };
    expect(abortVerdict(tolerant, counts(2, 18))).toBeUndefined();
    expect(abortVerdict(tolerant, counts(3, 7))).toMatch(/30.0 %/);
  });
});

describe('rollout records', () => {
  it('refuses a record file that is not a rollout record, whatever it holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollout-records-'));
    const store = new RolloutStore(dir);
    // a pending control request is not a record either
    store.requestControl('probe-0000', { action: 'pause', by: 'x', at: 0 });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        writeFileSync(join(store.directory, 'fuzzed-0001.json'), text);
        expect(() => store.load('fuzzed-0001')).toThrow(RolloutRecordUnreadable);
        expect(store.list()).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('pauses or aborts a rollout no process drives in its record, and refuses to resume it there', () => {
    const store = new RolloutStore(mkdtempSync(join(tmpdir(), 'rollout-records-')));
    store.save({
      id: 'test-0001',
      createdAt: 1,
      createdBy: 'a',
      payload: { kind: 'config', version: 2, settings: {}, expiresInMs: 1000 },
      plan: constant(1),
      state: 'running',
      order: ['kk-1'],
      kiosks: { 'kk-1': { outcome: 'waiting' } },
      steps: [],
      history: [],
      // a process that no longer runs
      owner: { pid: 2 ** 22 + 12345, host: hostname(), since: 1 },
      updatedAt: 1,
    });
    expect(() => requestRolloutAction(store, 'test-0001', { action: 'resume', by: 'b', at: 2 })).toThrow(
      RolloutRefused,
    );
    expect(requestRolloutAction(store, 'test-0001', { action: 'pause', by: 'b', at: 2 }).state).toBe(
      'paused',
    );
    expect(
      requestRolloutAction(store, 'test-0001', { action: 'abort', by: 'c', reason: 'bad idea', at: 3 }),
    ).toMatchObject({
      state: 'aborted',
      reason: 'bad idea',
    });
    expect(store.load('test-0001')?.history.map((entry) => `${entry.action}:${entry.by}`)).toEqual([
      'pause:b',
      'abort:c',
    ]);
    expect(() => requestRolloutAction(store, 'test-0001', { action: 'pause', by: 'd', at: 4 })).toThrow(
      RolloutRefused,
    );
  });
});

describe('rollout engine after an ops server restart', () => {
  it('takes over the unfinished rollouts no live process drives, and re-sends the messages recorded', async () => {
    const store = new RolloutStore(mkdtempSync(join(tmpdir(), 'rollout-records-')));
    const dead = { pid: 2 ** 22 + 54321, host: hostname(), since: 1 };
    const base = {
      createdAt: 1,
      createdBy: 'a',
      payload: { kind: 'config' as const, version: 2, settings: {}, expiresInMs: 1000 },
      plan: { ...constant(1), abort: { ...abort, ackTimeoutMs: 3_600_000 } },
      order: ['kk-1'],
      steps: [{ index: 0, kiosks: ['kk-1'], startedAt: 1 }],
      history: [],
      updatedAt: 1,
    };
    const pushed = {
      outcome: 'pushed' as const,
      step: 0,
      messageId: 'm-1',
      pushedAt: Date.now(),
      sent: { topic: 'cccd/v1/kiosk/kk-1/config', message: '{"id":"m-1"}', retain: true },
    };
    store.save({ ...base, id: 'running-0001', state: 'running', kiosks: { 'kk-1': pushed }, owner: dead });
    store.save({ ...base, id: 'paused-00001', state: 'paused', kiosks: { 'kk-1': pushed }, owner: dead });
    store.save({
      ...base,
      id: 'done-0000001',
      state: 'completed',
      kiosks: { 'kk-1': { outcome: 'healthy' } },
    });
    const published: string[] = [];
    const fleet: RolloutFleet = {
      snapshot: () => undefined,
      kiosks: () => [],
      publish: (topic, payload) => {
        published.push(`${topic} ${payload}`);
        return Promise.resolve();
      },
      onKioskMessage: () => () => undefined,
    };
    const engine = new RolloutEngine({
      store,
      fleet,
      drivers: { config: configDriver(generateKeyPairSync('ed25519').privateKey) },
    });
    try {
      const taken = engine.takeOverInterrupted('dashboard');
      expect(taken.map((record) => `${record.id}:${record.state}`).sort()).toEqual([
        'paused-00001:paused',
        'running-0001:running',
      ]);
      expect(store.load('running-0001')?.history.at(-1)).toMatchObject({
        by: 'dashboard',
        action: 'resume',
        detail: expect.stringMatching(/taken over/),
      });
      expect(store.load('paused-00001')?.owner?.pid).toBe(process.pid);
      await until(() => published.length === 2);
      expect(published).toEqual([
        'cccd/v1/kiosk/kk-1/config {"id":"m-1"}',
        'cccd/v1/kiosk/kk-1/config {"id":"m-1"}',
      ]);
      // now driven here: a second server would not take them
      expect(engine.takeOverInterrupted('other')).toEqual([]);
    } finally {
      await engine.close();
    }
    expect(store.load('running-0001')?.owner).toBeUndefined();
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let tries = 0; !condition(); tries++) {
    if (tries > 200) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('config payload driver', () => {
  const driver = configDriver(generateKeyPairSync('ed25519').privateKey);
  const result = (status: 'applied' | 'pending-restart' | 'refused' | 'rolled-back', configId = 'c-1') =>
    Buffer.from(
      JSON.stringify(
        envelope('config.result', 'kk-1', {
          version: 3,
          configId,
          status,
          ...(status === 'refused' ? { reason: 'not-newer' as const, detail: 'version 3 ≤ 9' } : {}),
        }),
      ),
    );
  it("reads the kiosk's config.result for the message it was sent, and nothing else", () => {
    expect(driver.answer('events', result('applied'), 'c-1')).toEqual({ status: 'applied' });
    expect(driver.answer('events', result('refused'), 'c-1')).toEqual({
      status: 'refused',
      detail: 'not-newer: version 3 ≤ 9',
    });
    // taken, in effect only after the kiosk's restart at idle: not an answer that ends the wait
    expect(driver.answer('events', result('pending-restart'), 'c-1')).toMatchObject({ status: 'pending' });
    expect(driver.answer('events', result('applied', 'c-2'), 'c-1')).toBeUndefined();
    expect(driver.answer('status', result('applied'), 'c-1')).toBeUndefined();
    expect(driver.answer('events', Buffer.from('{"not":"an envelope"}'), 'c-1')).toBeUndefined();
  });
  it('refuses settings the kiosk config schema refuses, before signing', () => {
    expect(() =>
      driver.check({
        kind: 'config',
        version: 1,
        settings: { timeouts: { requestMs: 'soon' } },
        expiresInMs: 1,
      }),
    ).toThrow(PayloadInvalid);
    expect(() =>
      driver.check({ kind: 'config', version: 1, settings: { kiosk: { id: 'other-1' } }, expiresInMs: 1 }),
    ).toThrow(PayloadInvalid);
  });
});

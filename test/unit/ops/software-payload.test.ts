/**
 * The `software` rollout payload (issue 14): the order it signs is one the kiosk's gate admits
 * (signed by the ops key, for that kiosk only, with a nonce and an expiry within a command's
 * lifetime), the kiosk's answers map onto the engine's outcomes, and a rollback the kiosk reports
 * shows in the dashboard's activity once; the dashboard form asks for settings or a version, not
 * both. Pure logic; the whole path is
 * test/integration/update/runtime-update.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MessageGate } from '../../../src/fleet/gate.js';
import { generateOpsKeyPair, privateKeyFromPem } from '../../../src/fleet/index.js';
import { decodeMessage, envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { ActivityLog } from '../../../src/ops/dashboard/activity.js';
import { StartRolloutSchema } from '../../../src/ops/dashboard/rollout-engine.js';
import { softwareDriver } from '../../../src/ops/rollout-payloads.js';
import { RolloutPayloadSchema } from '../../../src/ops/rollout-record.js';
import { pinKeys } from '../../../src/fleet/signing.js';

const keys = generateOpsKeyPair();
const driver = softwareDriver(privateKeyFromPem(keys.privateKeyPem));
const payload = { kind: 'software' as const, version: '0.1.1', expiresInMs: 3600_000 };

const event = (type: 'software.result' | 'software.rolledBack', body: object) =>
  Buffer.from(JSON.stringify(envelope(type as 'software.result', 'kiosk-0001', body as never)));

describe('software rollout payload', () => {
  it('signs an update-software order the target kiosk admits and another kiosk refuses', () => {
    const prepared = driver.prepare(payload, 'kiosk-0001');
    expect(prepared).toMatchObject({ topic: topics.cmd('kiosk-0001'), retain: false });
    const message = {
      ...decodeMessage(Buffer.from(prepared.message), 'command.request'),
      type: 'command.request' as const,
    };
    expect(message.body).toMatchObject({ name: 'update-software', args: { version: '0.1.1' } });
    expect(message.id).toBe(prepared.messageId);
    const gate = (kioskId: string) =>
      new MessageGate({
        kioskId,
        keys: { ops: pinKeys([keys.publicKey]), registry: pinKeys([]) },
        notBefore: () => 0,
      });
    expect(() => gate('kiosk-0001').check(message)).not.toThrow();
    expect(() => gate('kiosk-0002').check(message)).toThrow(/other-kiosk/);
  });

  it('refuses a version that is not MAJOR.MINOR.PATCH and an order living past a command’s 24 h', () => {
    expect(RolloutPayloadSchema.safeParse({ ...payload, version: '1.2' }).success).toBe(false);
    expect(RolloutPayloadSchema.safeParse({ ...payload, expiresInMs: 25 * 3600_000 }).success).toBe(false);
    expect(RolloutPayloadSchema.safeParse(payload).success).toBe(true);
  });

  it('maps the kiosk’s answers to its order onto the engine’s outcomes, and ignores other orders', () => {
    const answer = (status: string, extra: object = {}, orderId = 'order-1') =>
      driver.answer(
        'events',
        event('software.result', { orderId, version: '0.1.1', status, ...extra }),
        'order-1',
      );
    expect(answer('accepted')).toEqual({ status: 'pending', detail: 'accepted' });
    expect(answer('downloading', { percent: 50 })).toEqual({ status: 'pending', detail: 'downloading 50 %' });
    const retry = 'update repository unreachable; retry 1 of 7 in 30 s';
    expect(answer('downloading', { detail: retry })).toEqual({ status: 'pending', detail: retry });
    expect(answer('applied')?.status).toBe('applied');
    expect(answer('kept')?.status).toBe('applied');
    expect(answer('refused', { reason: 'downgrade', detail: 'older' })).toEqual({
      status: 'refused',
      detail: 'downgrade: older',
    });
    expect(answer('failed', { detail: 'disk' })?.status).toBe('refused');
    expect(answer('applied', {}, 'order-2')).toBeUndefined();
    const rolledBack = event('software.rolledBack', {
      from: '0.1.1',
      to: '0.1.0',
      reason: 'crash-loop',
      at: '2026-11-30T20:00:00Z',
      orderId: 'order-1',
    });
    expect(driver.answer('events', rolledBack, 'order-1')).toEqual({
      status: 'rolled-back',
      detail: '0.1.1 -> 0.1.0: crash-loop',
    });
    expect(driver.answer('status', rolledBack, 'order-1')).toBeUndefined();
    expect(driver.answer('events', Buffer.from('{not json'), 'order-1')).toBeUndefined();
    expect(driver.runs(payload, { online: true, devices: {}, parts: {}, seenAt: 0, software: '0.1.1' })).toBe(
      true,
    );
    expect(driver.runs(payload, { online: true, devices: {}, parts: {}, seenAt: 0, software: '0.1.0' })).toBe(
      false,
    );
  });

  it('shows a kiosk’s reported rollback in the dashboard activity once, whoever ordered the update', () => {
    const activity = new ActivityLog(() => 0);
    const body = { from: '0.1.1', to: '0.1.0', reason: 'crash-loop', at: '2026-11-30T20:00:00Z' };
    activity.softwareRolledBack('kiosk-0001', 'event-1', body);
    activity.softwareRolledBack('kiosk-0001', 'event-1', body); // the kiosk's at-least-once re-send
    expect(activity.all()).toEqual([
      expect.objectContaining({
        kioskId: 'kiosk-0001',
        action: 'software rollback',
        state: 'rolled-back',
        detail: '0.1.1 -> 0.1.0 (crash-loop)',
      }),
    ]);
  });
});

describe('the dashboard form’s rollout request', () => {
  const base = {
    kiosks: ['kiosk-0001'],
    canary: { kiosks: ['kiosk-0001'] },
    rate: { kind: 'constant', perStep: 5 },
    maxFailures: 0,
  };
  it('takes settings or a software version, one of them, and a version in MAJOR.MINOR.PATCH', () => {
    expect(StartRolloutSchema.safeParse({ ...base, software: '0.2.0' }).success).toBe(true);
    expect(StartRolloutSchema.safeParse({ ...base, settings: { log: { level: 'warn' } } }).success).toBe(
      true,
    );
    for (const what of [
      {},
      { software: '0.2.0', settings: {} },
      { software: '0.2' },
      { software: '../0.2.0' },
    ])
      expect([what, StartRolloutSchema.safeParse({ ...base, ...what }).success]).toEqual([what, false]);
  });
});

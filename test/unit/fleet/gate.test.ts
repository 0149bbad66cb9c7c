/**
 * The gate every inbound message passes before anything is stored (src/fleet/gate.ts): author's
 * pinned key, target kiosk, nonce, issue time, bounded expiry, and nothing issued before a lost
 * store. Pure logic: a fixed clock, keys made here.
 */
import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_MS, GateRefused, MessageGate } from '../../../src/fleet/gate.js';
import { generateOpsKeyPair, pinKeys, privateKeyFromPem, signEnvelope } from '../../../src/fleet/signing.js';
import { type Envelope, envelope, type MessageType } from '../../../src/link/messages.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const ops = generateOpsKeyPair();
const registry = generateOpsKeyPair();
let notBefore = 0;
const gate = new MessageGate({
  kioskId: 'kiosk-0001',
  keys: { ops: pinKeys([ops.publicKey]), registry: pinKeys([registry.publicKey]) },
  notBefore: () => notBefore,
  now: () => NOW,
});

function signed(
  type: 'command.request' | 'manifest.entry' | 'config.push',
  extra: Partial<Envelope> = {},
  key = type === 'manifest.entry' ? registry : ops,
): Envelope & { type: 'command.request' | 'manifest.entry' | 'config.push' } {
  const bodies: Record<string, unknown> = {
    'command.request': { name: 'lock', nonce: 'n-0000000000000000' },
    'manifest.entry': { pickupId: 'p-1', action: 'withdraw' },
    'config.push': { version: 1, settings: {} },
  };
  const message = envelope(type as MessageType, 'x', bodies[type] as never, {
    ts: new Date(NOW).toISOString(),
    expiresAt: new Date(NOW + 60_000).toISOString(),
    to: 'kiosk-0001',
    nonce: 'nonce-000000000000001',
    ...extra,
  });
  return { ...signEnvelope(message, privateKeyFromPem(key.privateKeyPem)), type };
}

function reason(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof GateRefused) return error.reason;
    throw error;
  }
}

describe('MessageGate', () => {
  it('admits a message signed by its author, for this kiosk or a list holding it', () => {
    expect(reason(() => gate.check(signed('command.request')))).toBeUndefined();
    expect(
      reason(() => gate.check(signed('manifest.entry', { to: ['kiosk-0002', 'kiosk-0001'] }))),
    ).toBeUndefined();
  });

  it("refuses the other author's key: ops cannot sign manifests, the registry cannot command", () => {
    expect(reason(() => gate.check(signed('manifest.entry', {}, ops)))).toBe('unknown-key');
    expect(reason(() => gate.check(signed('command.request', {}, registry)))).toBe('unknown-key');
  });

  it('refuses another kiosk, a list without it, a missing target, and * except for a fleet config', () => {
    expect(reason(() => gate.check(signed('command.request', { to: 'kiosk-0002' })))).toBe('other-kiosk');
    expect(reason(() => gate.check(signed('command.request', { to: ['kiosk-0002'] })))).toBe('other-kiosk');
    expect(reason(() => gate.check(signed('command.request', { to: undefined })))).toBe('invalid');
    expect(reason(() => gate.check(signed('command.request', { to: '*' })))).toBe('other-kiosk');
    expect(reason(() => gate.check(signed('config.push', { to: '*' })))).toBe('other-kiosk');
    expect(reason(() => gate.check(signed('config.push', { to: '*' }), { fleetWide: true }))).toBeUndefined();
  });

  it('refuses no nonce, expired, from the future, too long-lived', () => {
    expect(reason(() => gate.check(signed('command.request', { nonce: undefined })))).toBe('invalid');
    expect(
      reason(() => gate.check(signed('command.request', { expiresAt: new Date(NOW - 1).toISOString() }))),
    ).toBe('expired');
    expect(
      reason(() =>
        gate.check(signed('command.request', { ts: new Date(NOW + CLOCK_SKEW_MS + 1000).toISOString() })),
      ),
    ).toBe('invalid');
    expect(
      reason(() =>
        gate.check(signed('command.request', { expiresAt: new Date(NOW + 25 * 3600_000).toISOString() })),
      ),
    ).toBe('invalid');
  });

  it('refuses what was issued before the store was lost, except configs (their versions guard them)', () => {
    notBefore = NOW - 1000;
    const old = { ts: new Date(NOW - 2000).toISOString() };
    expect(reason(() => gate.check(signed('command.request', old)))).toBe('replayed');
    expect(reason(() => gate.check(signed('manifest.entry', old)))).toBe('replayed');
    expect(reason(() => gate.check(signed('config.push', old)))).toBeUndefined();
    notBefore = 0;
  });

  it('refuses a changed target: `to` is signed', () => {
    const message = signed('command.request', { to: 'kiosk-0002' });
    expect(reason(() => gate.check({ ...message, to: 'kiosk-0001' }))).toBe('bad-signature');
  });
});

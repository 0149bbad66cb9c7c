/**
 * Issue 12, must-show 4 ("Why" item 5): a locked kiosk at config v500 whose database is deleted must
 * not come back healthy, unlocked and at v0. Against `kiosk start` (the real process) on Mosquitto:
 * lock, push v500, stop, delete the store, start. The kiosk reports `fault.storage` (store-replaced),
 * `/healthz` is degraded, it stays locked and out of service, refuses to be unlocked, and once
 * operations re-establish its state it re-applies v500 and refuses v450. On the deploy/ broker
 * configuration and ACL (kiosk-process.ts): the kiosk with its kiosk-CA certificate, operations with
 * the `ops` service certificate.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signConfig } from '../../src/fleet/index.js';
import type { Envelope, MessageBody } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { recordAttack } from './attacks.js';
import { type KioskUnderAttack, startKioskUnderAttack } from './kiosk-process.js';

type ConfigResult = MessageBody<'config.result'>;

describe('a wiped store cannot roll back security state (kiosk start, deploy Mosquitto)', () => {
  let k: KioskUnderAttack;
  beforeAll(async () => {
    k = await startKioskUnderAttack('wipe');
  });
  afterAll(async () => {
    await k?.stop();
  });

  async function configResult(configId: string, from: number): Promise<ConfigResult> {
    const hit = await k.events.waitFor(
      (received) => {
        const message = JSON.parse(received.payload) as Envelope<ConfigResult>;
        return message.type === 'config.result' && message.body.configId === configId;
      },
      15_000,
      from,
    );
    return (JSON.parse(hit.payload) as Envelope<ConfigResult>).body;
  }

  it('lock, v500, delete the database, restart: fault.storage, out of service; v450 refused once re-established', async () => {
    expect((await k.ops('lock')).body).toMatchObject({ status: 'ok', data: { locked: true } });
    const v500 = signConfig({
      version: 500,
      kioskId: k.kioskId,
      settings: { timeouts: { requestMs: 15_000 } },
      key: k.opsKey,
    });
    let from = k.events.received.length;
    await k.opsClient.publishAsync(topics.config(k.kioskId), JSON.stringify(v500), { qos: 1, retain: true });
    expect(await configResult(v500.id, from)).toMatchObject({ version: 500, status: 'applied' });

    await k.stopKiosk();
    for (const suffix of ['', '-wal', '-shm'])
      rmSync(join(k.dataDir, `kiosk.sqlite${suffix}`), { force: true });
    from = k.events.received.length;
    await k.start();

    const fault = await k.events.waitFor(
      (received) => (JSON.parse(received.payload) as Envelope).type === 'fault.storage',
      15_000,
      from,
    );
    expect((JSON.parse(fault.payload) as Envelope<MessageBody<'fault.storage'>>).body.fault).toBe(
      'store-replaced',
    );
    const health = await k.healthz();
    expect(health.status).toBe(503);
    expect(health.body.parts.fleet?.state).toBe('degraded');
    const diagnostics = await k.ops('collect-diagnostics');
    expect(diagnostics.body.data?.fleet).toMatchObject({
      locked: true,
      storeLost: true,
      configVersions: { kiosk: 500 },
    });
    // nothing but re-establishing the state runs meanwhile: not even a signed unlock
    const unlock = await k.ops('unlock');
    recordAttack({
      name: 'wiped-store-unlocks',
      refused: unlock.body.status === 'refused',
      reason: unlock.body.reason ?? unlock.body.status,
    });
    expect(unlock.body).toMatchObject({ status: 'refused', reason: 'state-lost' });

    // operations re-assert the state they hold; the retained v500 (held meanwhile) is applied again
    from = k.events.received.length;
    const reassert = await k.ops('reassert-state', { fleetVersion: 0, kioskVersion: 500, locked: true });
    expect(reassert.body).toMatchObject({ status: 'ok', data: { wasLost: true, locked: true } });
    expect(await configResult(v500.id, from)).toMatchObject({ version: 500, status: 'applied' });
    expect((await k.healthz()).body.parts.fleet?.state).toBe('up');

    const v450 = signConfig({
      version: 450,
      kioskId: k.kioskId,
      settings: { timeouts: { requestMs: 4500 } },
      key: k.opsKey,
    });
    from = k.events.received.length;
    await k.opsClient.publishAsync(topics.config(k.kioskId), JSON.stringify(v450), { qos: 1, retain: true });
    const downgrade = await configResult(v450.id, from);
    recordAttack({
      name: 'wiped-store-downgraded-config',
      refused: downgrade.status === 'refused',
      reason: downgrade.reason ?? downgrade.status,
    });
    expect(downgrade).toMatchObject({ status: 'refused', reason: 'not-newer' });
    const after = await k.ops('collect-diagnostics');
    expect(after.body.data?.fleet).toMatchObject({
      locked: true,
      storeLost: false,
      configVersions: { kiosk: 500 },
    });
  });
});

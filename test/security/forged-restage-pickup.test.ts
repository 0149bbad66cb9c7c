/**
 * Issue 12, must-show 2 ("Why" item 1): a forged manifest re-stage of a pickup whose card is in the
 * vault, carrying an attacker's finger template, must end with the card still in its slot, the
 * forged message refused and logged, and the registry's real pickup still collectable by its owner.
 * The whole pickup world (pickup-world.ts: the kiosk runtime `kiosk start` builds, real drivers
 * over ptys to the emulators, real store, MQTT link to the rig's broker and reference registry).
 *
 * Two forgeries: one signed by a key that is not the pinned registry key (refused by the gate
 * before anything is stored), and — as if the registry's signing key had leaked — one validly
 * signed and HPKE-sealed re-stage: the vault refuses to replace the secrets of a staged pickup.
 */
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateOpsKeyPair, privateKeyFromPem, signEnvelope } from '../../src/fleet/index.js';
import { envelope } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { DEMO_CITIZENS, registryCitizenOf } from '../../src/demo/citizens.js';
import { hpkeSeal, manifestInfo } from '../../src/store/hpke.js';
import { loadOrCreateSealingIdentity, sealingIdentityPath } from '../../src/store/seal.js';
import { capturingLogger } from '../helpers/logs.js';
import { KIOSK_ID, type PickupWorld, startPickupWorld, until } from '../integration/kiosk/pickup-world.js';
import { recordAttack } from './attacks.js';
import { nonce } from './kiosk-process.js';

const [MAI, ANH] = DEMO_CITIZENS as [(typeof DEMO_CITIZENS)[0], (typeof DEMO_CITIZENS)[0]];

describe('forged re-stage of a pickup whose card is in the vault', () => {
  let world: PickupWorld;
  const kioskLog = capturingLogger('debug');
  beforeAll(async () => {
    world = await startPickupWorld({ log: kioskLog.log });
  }, 90_000);
  afterAll(async () => {
    await world?.stop();
  });

  it('card stays in its slot, forgeries refused and logged, the owner still collects it', async () => {
    const runtime = world.runtime;
    const sealedBefore = (await runtime.vault.awaitingLoad()).length; // 0: all three are loaded
    expect(sealedBefore).toBe(0);
    expect(await runtime.vault.card(MAI.pickupId)).toEqual({ state: 'in-slot', slot: 0 });
    const attacker = await mqtt.connectAsync(world.rig.brokerUrl, { protocolVersion: 4 });
    // the attacker's secrets: Mai's pickup, Anh's finger
    const attackerSecrets = { ...registryCitizenOf(ANH), idNumber: MAI.record.idNumber };
    const plaintext = Buffer.from(
      JSON.stringify({
        idNumber: attackerSecrets.idNumber,
        mrzLines: registryCitizenOf(MAI).mrzLines,
        fingerTemplate: attackerSecrets.fingerTemplate.toString('base64'),
      }),
    );
    // the kiosk's sealing key is public (its retained status carries it)
    const kioskKey = Buffer.from(
      loadOrCreateSealingIdentity(sealingIdentityPath(join(world.dataDir, 'kiosk'))).publicKeyBase64,
      'base64',
    );
    const stage = async (signingKey: KeyObject, senderSealing: KeyObject) =>
      signEnvelope(
        envelope(
          'manifest.entry',
          'registry',
          {
            pickupId: MAI.pickupId,
            action: 'stage',
            sealed: await hpkeSeal(plaintext, {
              recipient: kioskKey,
              sender: senderSealing,
              info: manifestInfo(KIOSK_ID, MAI.pickupId),
            }),
          },
          { to: KIOSK_ID, nonce: nonce(), expiresAt: new Date(Date.now() + 60_000).toISOString() },
        ),
        signingKey,
      );
    const stranger = privateKeyFromPem(generateOpsKeyPair().privateKeyPem);
    const refusedBefore = runtime.fleet.refusals.totals.get('unknown-key') ?? 0;
    await attacker.publishAsync(
      topics.manifest(KIOSK_ID),
      JSON.stringify(await stage(stranger, world.rig.registry.keys.sealing)),
      { qos: 1 },
    );
    await until(
      () => (runtime.fleet.refusals.totals.get('unknown-key') ?? 0) > refusedBefore,
      10_000,
      'refused',
    );
    expect(kioskLog.text()).toMatch(/"reason":"unknown-key".*inbound message refused/);

    // as if the registry's signing key had leaked: a valid signature, and still no replacement
    await attacker.publishAsync(
      topics.manifest(KIOSK_ID),
      JSON.stringify(await stage(world.rig.registry.keys.signing, world.rig.registry.keys.sealing)),
      { qos: 1 },
    );
    await until(
      async () =>
        (
          await runtime.store
            .read()
            .all(`SELECT 1 FROM audit WHERE action = 'vault.stage-refused' AND detail LIKE ?`, [
              `%${MAI.pickupId}%`,
            ])
        ).length === 1,
      10_000,
      'signed re-stage refused and audited',
    );
    await attacker.endAsync();
    const card = await runtime.vault.card(MAI.pickupId);
    recordAttack({
      name: 'forged-restage-card-in-vault',
      refused: card?.state === 'in-slot' && card.slot === 0,
      reason: 'unknown-key; signed copy: vault.stage-refused card-in-vault/already-staged',
    });
    expect(card).toEqual({ state: 'in-slot', slot: 0 });

    // the registry's real pickup: Mai's own finger still collects her card
    const sessions = runtime.sessions;
    const phase = (expected: string) => until(() => sessions.phase === expected, 20_000, `phase ${expected}`);
    await world.rig.citizenControl('finger', [MAI.record.idNumber]);
    sessions.handle({ type: 'start', flow: 'pickup' });
    sessions.handle({ type: 'enter-id', idNumber: MAI.record.idNumber });
    await phase('take-card');
    expect(await world.rig.citizenControl('take', [])).toBe('ok');
    await phase('receipt');
    expect(await runtime.vault.card(MAI.pickupId)).toEqual({ state: 'dispensed', slot: null });
  });
});

/**
 * Issue 13, "stand-ins made real": `resync-manifest`. Real Mosquitto, the reference registry
 * signing and sealing real manifest entries, the kiosk runtime on a real SQLite file, operations
 * signing the command. The kiosk and the registry drift apart the way they do in the field: while
 * the kiosk is down, the registry stages one pickup and withdraws two (one whose card sits in a
 * slot), and the broker restarts without persistence, losing the queued messages. The resync must
 * stage the missing entry through the normal stage path, withdraw the two extras, report the card
 * whose pickup the registry no longer stages (and never dispense it), and leave the in-sync pickup's
 * secrets as they were.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KioskConfig, parseConfig } from '../../../src/config/index.js';
import { DEMO_CITIZENS, type DemoCitizen, registryCitizenOf } from '../../../src/demo/citizens.js';
import {
  generateOpsKeyPair,
  privateKeyFromPem,
  signCommand,
  signEnvelope,
} from '../../../src/fleet/index.js';
import { type Envelope, envelope, type MessageBody } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { hpkeSeal, resyncInfo } from '../../../src/store/hpke.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';
import { until } from './fleet-rig.js';

const kioskId = `resync-${process.pid}`;
const [MAI, ANH, HUNG] = DEMO_CITIZENS as [DemoCitizen, DemoCitizen, DemoCitizen];
const P = {
  /** staged on both sides, card in slot 1: stays as it is */
  inSync: 'PK-RS-1-SYNC',
  /** staged at the registry while the kiosk was down; the message was lost */
  missing: 'PK-RS-2-MISSING',
  /** withdrawn at the registry while the kiosk was down; no card loaded */
  extra: 'PK-RS-3-EXTRA',
  /** withdrawn at the registry while the kiosk was down; its card sits in slot 3 */
  unknownCard: 'PK-RS-4-CARD',
};

describe('resync-manifest over Mosquitto (issue 13, stand-ins made real)', () => {
  let broker: MosquittoInstance;
  let registry: ReferenceRegistry;
  let runtime: KioskRuntime;
  let config: KioskConfig;
  let ops: mqtt.MqttClient;
  let results: Awaited<ReturnType<typeof watchTopic>>;
  let manifests: Awaited<ReturnType<typeof watchTopic>>;
  const opsKeys = generateOpsKeyPair();
  const opsKey = privateKeyFromPem(opsKeys.privateKeyPem);

  const manifestState = async (pickupId: string) =>
    (await runtime.store
      .read()
      .get<{ state: string; sealed: string }>(
        'SELECT state, sealed FROM vault_manifest WHERE pickup_id = ?',
        [pickupId],
      )) ?? { state: 'absent', sealed: '' };

  async function startKiosk(): Promise<void> {
    runtime = createKioskRuntime(config, quietLogger());
    await runtime.start();
    await until(() => runtime.link.connected);
  }

  async function resyncEvents(): Promise<Array<MessageBody<'manifest.resynced'>>> {
    return (await registry.events(kioskId))
      .filter((event) => event.type === 'manifest.resynced')
      .map((event) => event.body as MessageBody<'manifest.resynced'>);
  }

  async function sendCommand(name: string): Promise<Envelope<MessageBody<'command.result'>>> {
    const command = signCommand({ kioskId, name, key: opsKey });
    const from = results.received.length;
    await ops.publishAsync(topics.cmd(kioskId), JSON.stringify(command), { qos: 1 });
    const hit = await results.waitFor(
      (received) => (JSON.parse(received.payload) as Envelope).correlationId === command.correlationId,
      10_000,
      from,
    );
    return JSON.parse(hit.payload) as Envelope<MessageBody<'command.result'>>;
  }

  beforeAll(async () => {
    broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), 'resync-'));
    registry = new ReferenceRegistry({
      brokerUrl: broker.url,
      databaseFile: join(dir, 'registry.sqlite'),
      log: quietLogger(),
    });
    await registry.start();
    for (const who of [MAI, ANH, HUNG]) await registry.citizens.addCitizen(registryCitizenOf(who));
    config = parseConfig(
      {
        kiosk: { id: kioskId },
        mqtt: { url: broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
        dataDir: join(dir, 'kiosk'),
        ui: { port: 0 },
        fleet: {
          opsPublicKeys: [opsKeys.publicKey],
          registrySigningKey: registry.keys.signingPublicKey,
          registrySealingKey: registry.keys.sealingPublicKey,
        },
      },
      'test',
    );
    await startKiosk();
    ops = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    results = await watchTopic(broker.url, topics.cmdResult(kioskId));
    manifests = await watchTopic(broker.url, topics.manifest(kioskId));
    // the registry learns the kiosk's sealing key from its retained status
    await until(async () => (await registry.citizens.kioskKey(kioskId)) !== undefined);

    // in sync, with cards loaded by a technician: the in-sync pickup in slot 1, the other in slot 3
    await registry.citizens.stagePickup(kioskId, P.inSync, MAI.record.idNumber);
    await registry.citizens.stagePickup(kioskId, P.extra, HUNG.record.idNumber);
    await registry.citizens.stagePickup(kioskId, P.unknownCard, ANH.record.idNumber);
    await until(async () =>
      (await Promise.all([P.inSync, P.extra, P.unknownCard].map(manifestState))).every(
        (row) => row.state === 'staged',
      ),
    );
    await runtime.vault.loadCard(P.inSync, 1);
    await runtime.vault.loadCard(P.unknownCard, 3);

    // the drift: the kiosk is down, the registry stages one and withdraws two, the broker restarts
    // without persistence and the kiosk's queued messages are gone
    await runtime.stop();
    await registry.citizens.stagePickup(kioskId, P.missing, ANH.record.idNumber);
    await registry.citizens.withdrawPickup(kioskId, P.extra);
    await registry.citizens.withdrawPickup(kioskId, P.unknownCard);
    await broker.stop();
    await broker.start();
    await startKiosk();
    await until(() => registry.health().state === 'up');
  }, 60_000);

  afterAll(async () => {
    await results?.close();
    await manifests?.close();
    await ops?.endAsync();
    await runtime?.stop();
    await registry?.stop();
    await broker?.stop();
  });

  it('has drifted: one entry missing locally, two extra locally, one of them with its card in a slot', async () => {
    expect((await manifestState(P.missing)).state).toBe('absent');
    expect((await manifestState(P.extra)).state).toBe('staged');
    expect((await manifestState(P.unknownCard)).state).toBe('staged');
    expect(await runtime.vault.card(P.unknownCard)).toEqual({ state: 'in-slot', slot: 3 });
  });

  it('reconciles the vault with the registry and reports the differences, dispensing nothing', async () => {
    const inSyncBefore = await manifestState(P.inSync);
    const answer = await sendCommand('resync-manifest');
    expect(answer.body).toMatchObject({ name: 'resync-manifest', status: 'ok' });
    const requestId = answer.body.data?.requestId;
    expect(typeof requestId).toBe('string');

    await until(async () => (await resyncEvents()).some((event) => event.requestId === requestId), 20_000);
    const report = (await resyncEvents()).find((event) => event.requestId === requestId);
    expect(report).toEqual({
      requestId,
      inSync: 1,
      staged: { count: 1, pickupIds: [P.missing] },
      withdrawn: { count: 2, pickupIds: [P.extra, P.unknownCard] },
      notStaged: { count: 0, pickupIds: [] },
      unknownCards: { count: 1, pickupIds: [P.unknownCard] },
    });
    // the report carries ids and counts only: no ID number, MRZ or template of any citizen
    const text = JSON.stringify(report);
    for (const who of [MAI, ANH, HUNG]) expect(text).not.toContain(who.record.idNumber);

    // the vault now holds what the registry holds
    expect((await manifestState(P.missing)).state).toBe('staged');
    expect((await manifestState(P.extra)).state).toBe('withdrawn');
    expect((await manifestState(P.unknownCard)).state).toBe('withdrawn');
    // the missing one came through the normal stage path: it waits for its card to be loaded
    expect((await runtime.vault.awaitingLoad()).map((row) => row.pickupId)).toContain(P.missing);
    // the re-sent stage of the in-sync pickup did not replace its secrets
    expect(await manifestState(P.inSync)).toEqual(inSyncBefore);
    const refusedStages = await runtime.store
      .read()
      .all<{ detail: string }>(`SELECT detail FROM audit WHERE action = 'vault.stage-refused'`);
    expect(refusedStages.map((row) => row.detail).join()).toContain(P.inSync);

    // nothing dispensed wrongly: the unknown card stays in its slot and no one can take it,
    // neither by its pickup code nor by the citizen's ID number; the in-sync card still can
    expect(await runtime.vault.card(P.unknownCard)).toEqual({ state: 'in-slot', slot: 3 });
    expect(await runtime.vault.findReady('code', P.unknownCard)).toBeUndefined();
    expect(await runtime.vault.findReady('id', ANH.record.idNumber)).toBeUndefined();
    expect(await runtime.vault.findReady('code', P.inSync)).toMatchObject({ pickupId: P.inSync, slot: 1 });
    expect((await runtime.vault.inventory()).dispensed).toBe(0);

    // operations (who do not read events) see the counts in the diagnostics bundle
    const diagnostics = await sendCommand('collect-diagnostics');
    expect(diagnostics.body.data?.manifestResync).toMatchObject({
      requestId,
      inSync: 1,
      staged: 1,
      withdrawn: 2,
      notStaged: 0,
      unknownCards: 1,
    });

    // the registry's view agrees: everything it stages here is staged there
    const second = await sendCommand('resync-manifest');
    const secondId = second.body.data?.requestId;
    await until(async () => (await resyncEvents()).some((event) => event.requestId === secondId), 20_000);
    expect((await resyncEvents()).find((event) => event.requestId === secondId)).toMatchObject({
      inSync: 2,
      staged: { count: 0 },
      withdrawn: { count: 0 },
      notStaged: { count: 0 },
      // still in the vault, still not the registry's: reported again until staff take it out
      unknownCards: { count: 1, pickupIds: [P.unknownCard] },
    });
  }, 60_000);

  it('answers no request whose proof the kiosk did not seal, and a list replayed for an old request changes nothing', async () => {
    // a request on the kiosk's events topic with a proof sealed by another X25519 key
    const stranger = generateKeyPairSync('x25519').privateKey;
    const forgedId = 'forged-request-0001';
    const proof = await hpkeSeal(
      Buffer.from(JSON.stringify({ kioskId, requestId: forgedId, requestedAt: new Date().toISOString() })),
      {
        recipient: Buffer.from(registry.keys.sealingPublicKey, 'base64'),
        sender: stranger,
        info: resyncInfo(kioskId, forgedId),
      },
    );
    await ops.publishAsync(
      topics.events(kioskId),
      JSON.stringify(envelope('manifest.resyncRequested', kioskId, { requestId: forgedId, proof })),
      { qos: 1 },
    );
    // the registry acts on events in arrival order: once a genuine request is answered, the forged
    // one (before it) has been decided on
    const genuine = await sendCommand('resync-manifest');
    const genuineId = genuine.body.data?.requestId;
    await until(async () => (await resyncEvents()).some((event) => event.requestId === genuineId), 20_000);
    const lists = manifests.received.map((received) => JSON.parse(received.payload) as Envelope);
    const answered = lists
      .filter((message) => message.type === 'manifest.resync')
      .map((message) => (message.body as MessageBody<'manifest.resync'>).requestId);
    expect(answered).toContain(genuineId);
    expect(answered).not.toContain(forgedId);

    // the registry's genuine list, published again: refused as a replay, no second report
    const list = manifests.received.find(
      (received) =>
        (JSON.parse(received.payload) as Envelope<{ requestId?: string }>).body.requestId === genuineId,
    );
    const reconciled = async () =>
      (
        await runtime.store
          .read()
          .get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit WHERE action = 'vault.resynced'`)
      )?.n;
    const before = await reconciled();
    const replaysBefore = runtime.link.inbound.counts.duplicate;
    expect(list).toBeDefined();
    await ops.publishAsync(topics.manifest(kioskId), list?.payload ?? '', { qos: 1 });
    // counted once its transaction is decided: nothing was reconciled a second time
    await until(() => runtime.link.inbound.counts.duplicate > replaysBefore);
    expect(await reconciled()).toBe(before);
  }, 60_000);

  it('refuses a list not signed by the registry or bound to another kiosk before anything is stored', async () => {
    // a request the registry has not answered yet: an empty list for it would withdraw everything
    const requestId = 'pending-request-0001';
    await runtime.store.transaction((tx) =>
      tx.run('INSERT INTO manifest_resyncs (request_id, requested_at, requested_by) VALUES (?, ?, ?)', [
        requestId,
        Date.now(),
        'test',
      ]),
    );
    const list = (to: string) =>
      envelope(
        'manifest.resync',
        'registry',
        { requestId, pickupIds: [] },
        {
          to,
          nonce: randomBytes(16).toString('base64url'),
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
        },
      );
    const forged = [
      signEnvelope(list(kioskId), generateKeyPairSync('ed25519').privateKey), // not the registry's key
      signEnvelope(list(`other-${kioskId}`), registry.keys.signing), // the registry's, for another kiosk
      list(kioskId), // unsigned
    ];
    const rejectedBefore = runtime.link.inbound.counts.rejected;
    for (const message of forged)
      await ops.publishAsync(topics.manifest(kioskId), JSON.stringify(message), { qos: 1 });
    await until(() => runtime.link.inbound.counts.rejected >= rejectedBefore + forged.length);
    expect(
      await runtime.store
        .read()
        .get('SELECT reconciled_at FROM manifest_resyncs WHERE request_id = ?', [requestId]),
    ).toEqual({ reconciled_at: null });
    expect((await manifestState(P.inSync)).state).toBe('staged');
    expect((await manifestState(P.missing)).state).toBe('staged');
  });
});

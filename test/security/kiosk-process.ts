/**
 * `kiosk start` as the real process (spawned from source, as systemd runs it), with pinned
 * operations and registry keys, for the attacks of issue 12, on the shipped broker configuration:
 * Mosquitto from deploy/mosquitto/ with its ACLs (test/helpers/deploy-brokers.ts). The kiosk
 * connects with mutual TLS and a certificate of the kiosk-only CA; the registry, operations and the
 * attackers connect with service-CA certificates on the service listener, or with another kiosk's
 * certificate on the kiosk listener. What the kiosk did is observed from outside: its `cmd/result`
 * answers, its events (`security.refused` summaries, `config.result`, `fault.storage`), `/healthz`,
 * and its SQLite file opened read-only.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { KioskConfigInput } from '../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signCommand, signEnvelope } from '../../src/fleet/index.js';
import { type Envelope, type MessageBody } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { ReferenceRegistry } from '../../src/registry/registry.js';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import { quietLogger } from '../helpers/logs.js';
import {
  certificateOptions,
  clientCertificate,
  connectTls,
  type DeployBrokers,
  type ServiceIdentity,
  startDeployBrokers,
} from '../helpers/deploy-brokers.js';
import { freePort } from '../helpers/mosquitto.js';
import { watchOn } from '../helpers/mqtt-watch.js';
import { type Spawned, spawnKiosk } from '../helpers/processes.js';

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

type CommandResult = MessageBody<'command.result'>;

export interface KioskUnderAttack {
  kioskId: string;
  dir: string;
  dataDir: string;
  brokers: DeployBrokers;
  registry: ReferenceRegistry;
  opsKey: KeyObject;
  /** a key nobody pinned */
  strangerKey: KeyObject;
  /**
   * The connection with the `ops` service certificate, the one identity the ACL lets write a
   * kiosk's `cmd` and `config`: operations' signed messages go out on it, and so do forgeries by
   * whoever holds that certificate but not the pinned operations key.
   */
  opsClient: MqttClient;
  /**
   * A compromised service identity: the `registry-2` worker's certificate (deploy/README.md), which
   * the ACL lets write every kiosk's `manifest`, `res` and `updates`, without the pinned registry
   * signing key. The broker delivers what it publishes; only the kiosk can refuse it.
   */
  serviceAttacker: MqttClient;
  /** kiosk events, read by `serviceAttacker` (the ACL gives kiosk events to registry identities) */
  events: Awaited<ReturnType<typeof watchOn>>;
  /** command results, read by `opsClient` */
  results: Awaited<ReturnType<typeof watchOn>>;
  /** another kiosk, connected with its own kiosk-CA certificate on the kiosk listener */
  otherKiosk(kioskId: string): Promise<MqttClient>;
  kiosk: Spawned;
  uiPort: number;
  /** starts (again) `kiosk start` on the same config and data directory */
  start(): Promise<void>;
  /** SIGTERM and wait */
  stopKiosk(): Promise<void>;
  /** publishes `payload` on the kiosk's `cmd` topic and returns the `cmd/result` for `correlationId` */
  command(payload: string | Envelope, correlationId?: string): Promise<Envelope<CommandResult>>;
  /** signs and sends an ops command to this kiosk */
  ops(name: string, args?: Record<string, string | number | boolean>): Promise<Envelope<CommandResult>>;
  /** rows of `table` in the kiosk's store (read-only connection) */
  rows(table: string): Promise<number>;
  /** how many of these message ids the kiosk's inbox holds (genuine traffic may add others meanwhile) */
  inboxHolds(messageIds: string[]): Promise<number>;
  /** the counts of the next `security.refused` summary after event index `from` */
  refusalsAfter(from: number, timeoutMs?: number): Promise<Record<string, number>>;
  healthz(): Promise<{ status: number; body: { status: string; parts: Record<string, { state: string }> } }>;
  stop(): Promise<void>;
}

export async function startKioskUnderAttack(name: string): Promise<KioskUnderAttack> {
  const dir = mkdtempSync(join(tmpdir(), `security-${name}-`));
  // its own folder: Mosquitto reads it as the mosquitto user, the kiosk's data stays private
  const brokers = await startDeployBrokers(mkdtempSync(join(tmpdir(), `security-${name}-pki-`)));
  const kioskId = `${name}-${process.pid}`;
  const dataDir = join(dir, 'data');
  const ops = generateOpsKeyPair();
  const stranger = generateOpsKeyPair();
  const registry = new ReferenceRegistry({
    brokerUrl: `mqtts://127.0.0.1:${brokers.servicePort}`,
    databaseFile: join(dir, 'registry.sqlite'),
    log: quietLogger(),
    protocolVersion: 5,
    tls: { ca: brokers.serverCa, ...brokers.identity('registry') },
  });
  await registry.start();
  const uiPort = await freePort();
  // the certificate enrolment would give it: the kiosk-only CA, CN = kiosk id
  const kioskTls = await clientCertificate(brokers.kioskCa, brokers.dir, kioskId);
  const config: KioskConfigInput = {
    kiosk: { id: kioskId },
    mqtt: {
      url: `mqtts://127.0.0.1:${brokers.kioskPort}`,
      protocolVersion: 5,
      tls: { ca: brokers.serverCa, ...kioskTls },
      reconnect: { minMs: 100, maxMs: 1000 },
    },
    dataDir,
    ui: { host: '127.0.0.1', port: uiPort },
    fleet: {
      opsPublicKeys: [ops.publicKey],
      registrySigningKey: registry.keys.signingPublicKey,
      registrySealingKey: registry.keys.sealingPublicKey,
      refusalSummaryMs: 1000,
      refusalRepliesPerWindow: 20,
    },
  };
  const file = join(dir, 'kiosk.json');
  writeFileSync(file, JSON.stringify(config));
  const extraClients: MqttClient[] = [];
  const service = (identity: ServiceIdentity) =>
    connectTls(brokers, brokers.servicePort, {
      clientId: identity,
      protocolVersion: 5,
      ...certificateOptions(brokers.identity(identity)),
    }).connected;
  const opsClient = await service('ops');
  const serviceAttacker = await service('registry-2');
  const events = await watchOn(serviceAttacker, topics.events(kioskId));
  const results = await watchOn(opsClient, topics.cmdResult(kioskId));
  const opsKey = privateKeyFromPem(ops.privateKeyPem);
  const world: KioskUnderAttack = {
    kioskId,
    dir,
    dataDir,
    brokers,
    registry,
    opsKey,
    strangerKey: privateKeyFromPem(stranger.privateKeyPem),
    opsClient,
    serviceAttacker,
    events,
    results,
    async otherKiosk(otherId) {
      const files = await clientCertificate(brokers.kioskCa, brokers.dir, otherId);
      const { client, connected } = connectTls(brokers, brokers.kioskPort, {
        clientId: otherId,
        protocolVersion: 5,
        ...certificateOptions(files),
      });
      extraClients.push(client);
      return connected;
    },
    kiosk: undefined as unknown as Spawned,
    uiPort,
    async start() {
      world.kiosk = spawnKiosk(['start', '--config', file]);
      await world.kiosk.waitFor(/kiosk runtime ready/, 60_000);
      await until(() => /link: connected/.test(world.kiosk.output()), 20_000, 'link connected');
    },
    async stopKiosk() {
      world.kiosk.child.kill('SIGTERM');
      await world.kiosk.exited;
    },
    async command(payload, correlationId) {
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const id = correlationId ?? (typeof payload === 'string' ? undefined : payload.correlationId);
      const from = results.received.length;
      await opsClient.publishAsync(topics.cmd(kioskId), text, { qos: 1 });
      const hit = await results.waitFor(
        (received) => id === undefined || (JSON.parse(received.payload) as Envelope).correlationId === id,
        15_000,
        from,
      );
      return JSON.parse(hit.payload) as Envelope<CommandResult>;
    },
    ops(commandName, args) {
      return world.command(
        signCommand({ kioskId, name: commandName, key: opsKey, ...(args ? { args } : {}) }),
      );
    },
    async inboxHolds(messageIds) {
      const db = await SqliteDatabase.open(join(dataDir, 'kiosk.sqlite'), { readOnly: true });
      try {
        const marks = messageIds.map(() => '?').join(',');
        const row = await db.get<{ n: number }>(
          `SELECT COUNT(*) AS n FROM inbox WHERE message_id IN (${marks})`,
          messageIds,
        );
        return row?.n ?? -1;
      } finally {
        await db.close();
      }
    },
    async rows(table) {
      const db = await SqliteDatabase.open(join(dataDir, 'kiosk.sqlite'), { readOnly: true });
      try {
        return (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))?.n ?? -1;
      } finally {
        await db.close();
      }
    },
    async refusalsAfter(from, timeoutMs = 15_000) {
      const hit = await events.waitFor(
        (received) => (JSON.parse(received.payload) as Envelope).type === 'security.refused',
        timeoutMs,
        from,
      );
      return (JSON.parse(hit.payload) as Envelope<MessageBody<'security.refused'>>).body.counts as Record<
        string,
        number
      >;
    },
    async healthz() {
      const response = await fetch(`http://127.0.0.1:${uiPort}/healthz`);
      return {
        status: response.status,
        body: (await response.json()) as { status: string; parts: Record<string, { state: string }> },
      };
    },
    async stop() {
      if (world.kiosk && world.kiosk.child.exitCode === null) await world.stopKiosk().catch(() => undefined);
      for (const client of [opsClient, serviceAttacker, ...extraClients]) client.end(true);
      await registry.stop().catch(() => undefined);
      brokers.stop();
    },
  };
  await world.start();
  return world;
}

/** Re-signs `message` (without its old signature) with `key`: what an attacker with that key can do. */
export function resign<M extends Envelope>(message: M, key: KeyObject, changes: Partial<M> = {}): M {
  return signEnvelope({ ...message, ...changes, sig: undefined }, key);
}

export const nonce = () => randomBytes(16).toString('base64url');

/**
 * Issue 7, item 1: a real Mosquitto started from deploy/mosquitto/ (its config and ACL files, with
 * only paths, ports, persistence and the log destination templated for the test), a test CA made
 * here with openssl, kiosks provisioned by `provisionKiosk` over the bootstrap listener.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ProvisionOptions,
  type ProvisionStep,
  ProvisionFailed,
  provisionKiosk,
} from '../../../src/cli/provision.js';
import { loadConfigFile } from '../../../src/config/index.js';
import { createKioskRuntime } from '../../../src/main.js';
import { ensureTestCa } from '../../../src/registry/enrolment.js';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { quietLogger } from '../../helpers/logs.js';
import { clientCertificate, type DeployBrokers, startDeployBrokers } from '../../helpers/deploy-brokers.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('Mosquitto from deploy/: mutual TLS, per-kiosk ACL, bootstrap enrolment', () => {
  let dir: string;
  let brokers: DeployBrokers;
  let kioskPort: number;
  let servicePort: number;
  let bootstrapPort: number;
  let registry: ReferenceRegistry;
  const clients: MqttClient[] = [];
  const provisioned = new Map<string, string>();
  const steps: ProvisionStep[] = [];

  const provisionOptions = (kioskId: string, token: string): ProvisionOptions => ({
    configFile: join(dir, kioskId, 'etc', 'kiosk.json'),
    kioskId,
    brokerUrl: `mqtts://127.0.0.1:${kioskPort}`,
    bootstrapUrl: `mqtts://127.0.0.1:${bootstrapPort}`,
    brokerCa: brokers.serverCa,
    protocolVersion: 5,
    token,
    dataDir: join(dir, kioskId, 'data'),
    opsKeys: [],
    ports: [],
  });

  function connect(port: number, options: IClientOptions): Promise<MqttClient> {
    const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      rejectUnauthorized: true,
      ca: readFileSync(brokers.serverCa),
      ...options,
    });
    clients.push(client);
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve(client));
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed before CONNACK')));
    });
  }

  /** A service on the service listener; `registry` is a second registry worker (the running
   * registry holds the `registry` identity, and the client id is the certificate's name). */
  const asIdentity = (name: 'registry' | 'ops', protocolVersion: 4 | 5 = 5) => {
    const identity = brokers.identity(name === 'registry' ? 'registry-2' : 'ops');
    return connect(servicePort, {
      clientId: `test-${name}-${Math.random().toString(16).slice(2, 8)}`,
      protocolVersion,
      cert: readFileSync(identity.cert),
      key: readFileSync(identity.key),
    });
  };

  /**
   * Mosquitto's acl_file checks read access when it delivers, not at SUBSCRIBE (its default
   * security grants every subscription in the SUBACK): a denied subscription is one that never
   * delivers. Messages go out on every denied topic, then on the allowed one, from publishers the
   * ACL lets write them; once the allowed message is in, nothing else may have arrived.
   */
  async function deliveredOnly(
    subscriber: MqttClient,
    denied: Array<[MqttClient, string]>,
    [allowedPublisher, allowed]: [MqttClient, string],
  ): Promise<Array<[string, string]>> {
    const received: Array<[string, string]> = [];
    const onMessage = (topic: string, payload: Buffer) => received.push([topic, payload.toString()]);
    subscriber.on('message', onMessage);
    try {
      for (const [publisher, topic] of denied)
        await publisher.publishAsync(topic, `denied ${topic}`, { qos: 1 });
      await allowedPublisher.publishAsync(allowed, 'allowed', { qos: 1 });
      const deadline = Date.now() + 3000;
      while (!received.some(([, payload]) => payload === 'allowed') && Date.now() < deadline) await sleep(20);
      await sleep(200); // anything queued behind it arrives too
      return received;
    } finally {
      subscriber.off('message', onMessage);
    }
  }

  const asKiosk = (kioskId: string, protocolVersion: 4 | 5) => {
    const tls = join(dir, kioskId, 'etc', 'tls');
    return connect(kioskPort, {
      clientId: `test-${kioskId}-${protocolVersion}-${Math.random().toString(16).slice(2, 8)}`,
      protocolVersion,
      cert: readFileSync(join(tls, 'kiosk.pem')),
      key: readFileSync(join(tls, 'kiosk.key')),
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deploy-broker-'));
    brokers = await startDeployBrokers(dir);
    ({ kioskPort, servicePort, bootstrapPort } = brokers);
    registry = new ReferenceRegistry({
      brokerUrl: `mqtts://127.0.0.1:${servicePort}`,
      databaseFile: join(dir, 'registry.sqlite'),
      log: quietLogger(),
      protocolVersion: 5,
      tls: { ca: brokers.serverCa, ...brokers.identity('registry') },
      enrolmentCa: brokers.kioskCa,
    });
    await registry.start();
    for (const kioskId of ['kiosk-a', 'kiosk-b']) {
      const token = await registry.issueEnrolmentToken(kioskId);
      provisioned.set(kioskId, token);
      await provisionKiosk(provisionOptions(kioskId, token), (step) => steps.push(step));
    }
  });

  afterAll(async () => {
    for (const client of clients) client.end(true);
    await registry?.stop();
    brokers?.stop();
  });

  it('provisioning enrols over the bootstrap listener and every step passes', async () => {
    expect(steps.filter((step) => step.step === 'enrolment').map((step) => step.ok)).toEqual([true, true]);
    expect(steps.every((step) => step.ok)).toBe(true);
    // the registry recorded each kiosk's X25519 sealing key
    expect(await registry.sealingPublicKey('kiosk-a')).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('a provisioned kiosk runtime connects with its written configuration and is seen online', async () => {
    const config = await loadConfigFile(join(dir, 'kiosk-a', 'etc', 'kiosk.json'));
    expect(config.mqtt.tls?.cert).toBe(join(dir, 'kiosk-a', 'etc', 'tls', 'kiosk.pem'));
    const runtime = createKioskRuntime({ ...config, ui: { ...config.ui, port: 0 } }, quietLogger());
    await runtime.start();
    try {
      const deadline = Date.now() + 15_000;
      const online = async () => (await registry.kiosks()).some((k) => k.kioskId === 'kiosk-a' && k.online);
      while (!(await online()) && Date.now() < deadline) await sleep(100);
      expect(runtime.link.connected).toBe(true);
      expect(await online()).toBe(true);
    } finally {
      // the tests below connect with kiosk-a's certificate, hence kiosk-a's client id
      await runtime.stop();
    }
  });

  it('MQTT 5: kiosk A is refused publishing to kiosk B (PUBACK 0x87) and never receives its topics', async () => {
    const a = await asKiosk('kiosk-a', 5);
    await expect(a.publishAsync('cccd/v1/kiosk/kiosk-a/telemetry', '{}', { qos: 1 })).resolves.toBeDefined();
    const denied = await a.publishAsync('cccd/v1/kiosk/kiosk-b/status', '{}', { qos: 1 }).then(
      () => undefined,
      (error: { code?: number }) => error,
    );
    expect(denied?.code).toBe(0x87);
    // a kiosk may not write its own configuration or commands either (only operations may)
    const ownConfig = await a.publishAsync('cccd/v1/kiosk/kiosk-a/config', '{}', { qos: 1 }).then(
      () => undefined,
      (error: { code?: number }) => error,
    );
    expect(ownConfig?.code).toBe(0x87);
    await a.subscribeAsync(
      [
        'cccd/v1/kiosk/kiosk-a/cmd',
        'cccd/v1/kiosk/kiosk-b/cmd',
        'cccd/v1/kiosk/+/config',
        'cccd/v1/kiosk/kiosk-b/#',
      ],
      { qos: 1 },
    );
    const ops = await asIdentity('ops');
    const received = await deliveredOnly(
      a,
      [
        [ops, 'cccd/v1/kiosk/kiosk-b/cmd'],
        [ops, 'cccd/v1/kiosk/kiosk-b/config'],
      ],
      [ops, 'cccd/v1/kiosk/kiosk-a/cmd'],
    );
    expect(received).toEqual([['cccd/v1/kiosk/kiosk-a/cmd', 'allowed']]);
  });

  it('MQTT 3.1.1: a denied publish and a denied subscription are silent: nothing is ever delivered', async () => {
    const a = await asKiosk('kiosk-a', 4);
    const b = await asKiosk('kiosk-b', 4);
    const watcher = await asIdentity('registry', 4);
    await watcher.subscribeAsync('cccd/v1/kiosk/kiosk-b/status', { qos: 1 });
    // kiosk B's own status, sent after A's forged one, arrives; A's never does
    const statuses = await deliveredOnly(
      watcher,
      [[a, 'cccd/v1/kiosk/kiosk-b/status']],
      [b, 'cccd/v1/kiosk/kiosk-b/status'],
    );
    expect(statuses).toEqual([['cccd/v1/kiosk/kiosk-b/status', 'allowed']]);

    await a.subscribeAsync(['cccd/v1/kiosk/kiosk-b/manifest', 'cccd/v1/kiosk/kiosk-a/manifest'], { qos: 1 });
    const registryClient = await asIdentity('registry', 4);
    const manifests = await deliveredOnly(
      a,
      [[registryClient, 'cccd/v1/kiosk/kiosk-b/manifest']],
      [registryClient, 'cccd/v1/kiosk/kiosk-a/manifest'],
    );
    expect(manifests).toEqual([['cccd/v1/kiosk/kiosk-a/manifest', 'allowed']]);
  });

  it('each listener trusts its own CA only: a service certificate is refused on the kiosk listener, a kiosk one on the service listener', async () => {
    const registryIdentity = brokers.identity('registry-2');
    await expect(
      connect(kioskPort, {
        clientId: 'service-on-kiosk-listener',
        protocolVersion: 5,
        cert: readFileSync(registryIdentity.cert),
        key: readFileSync(registryIdentity.key),
      }),
    ).rejects.toThrow();
    const tls = join(dir, 'kiosk-b', 'etc', 'tls');
    await expect(
      connect(servicePort, {
        clientId: 'kiosk-on-service-listener',
        protocolVersion: 5,
        cert: readFileSync(join(tls, 'kiosk.pem')),
        key: readFileSync(join(tls, 'kiosk.key')),
      }),
    ).rejects.toThrow();
  });

  it('refuses a client without a certificate and one whose certificate is from another CA', async () => {
    await expect(connect(kioskPort, { clientId: 'no-cert', protocolVersion: 5 })).rejects.toThrow();
    const rogueDir = mkdtempSync(join(tmpdir(), 'rogue-ca-'));
    const rogue = await clientCertificate(await ensureTestCa(rogueDir, 'rogue CA'), rogueDir, 'kiosk-b');
    await expect(
      connect(kioskPort, {
        clientId: 'rogue',
        protocolVersion: 5,
        cert: readFileSync(rogue.cert),
        key: readFileSync(rogue.key),
      }),
    ).rejects.toThrow();
  });

  it('the bootstrap listener gives anonymous clients nothing but enrolment', async () => {
    const anonymous = await connect(bootstrapPort, { clientId: 'anon-1', protocolVersion: 5 });
    await anonymous.subscribeAsync(
      ['cccd/v1/bootstrap/reply/anon-1', 'cccd/v1/bootstrap/reply/anon-2', 'cccd/v1/kiosk/kiosk-a/cmd'],
      { qos: 1 },
    );
    const registryClient = await asIdentity('registry');
    const received = await deliveredOnly(
      anonymous,
      [
        [registryClient, 'cccd/v1/bootstrap/reply/anon-2'],
        [await asIdentity('ops'), 'cccd/v1/kiosk/kiosk-a/cmd'],
      ],
      [registryClient, 'cccd/v1/bootstrap/reply/anon-1'],
    );
    expect(received).toEqual([['cccd/v1/bootstrap/reply/anon-1', 'allowed']]);
    const denied = await anonymous.publishAsync('cccd/v1/kiosk/kiosk-a/cmd', '{}', { qos: 1 }).then(
      () => undefined,
      (error: { code?: number }) => error,
    );
    expect(denied?.code).toBe(0x87);
  });

  it('a token bound to another kiosk id is refused with a clear message; re-running for an enrolled kiosk needs none', async () => {
    const rerun: ProvisionStep[] = [];
    await expect(
      provisionKiosk(provisionOptions('kiosk-c', provisioned.get('kiosk-a') ?? ''), (step) =>
        rerun.push(step),
      ),
    ).rejects.toBeInstanceOf(ProvisionFailed);
    expect(rerun.at(-1)).toMatchObject({ step: 'enrolment', ok: false });
    expect(rerun.at(-1)?.detail).toMatch(/issued for another kiosk id/);

    const key = readFileSync(join(dir, 'kiosk-b', 'etc', 'tls', 'kiosk.key'), 'utf8');
    const again: ProvisionStep[] = [];
    const { token: _used, ...withoutToken } = provisionOptions('kiosk-b', 'unused');
    await provisionKiosk(withoutToken, (step) => again.push(step));
    expect(again.every((step) => step.ok)).toBe(true);
    expect(again.find((step) => step.step === 'enrolment')?.detail).toMatch(/already enrolled/);
    expect(readFileSync(join(dir, 'kiosk-b', 'etc', 'tls', 'kiosk.key'), 'utf8')).toBe(key);
  });
});

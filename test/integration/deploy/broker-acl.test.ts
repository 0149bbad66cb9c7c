/**
 * Issue 7, item 1: a real Mosquitto started from deploy/mosquitto/ (its config and ACL files, with
 * only paths, ports, persistence and the log destination templated for the test), a test CA made
 * here with openssl, kiosks provisioned by `provisionKiosk` over the bootstrap listener.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { ensureTestCa, signClientCertificate } from '../../../src/registry/enrolment.js';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { quietLogger } from '../../helpers/logs.js';
import { freePort, waitForPort } from '../../helpers/mosquitto.js';
import { ROOT } from '../../helpers/processes.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const openssl = (dir: string, ...args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A new EC P-256 key `<name>.key` with its request `<name>.csr` (subject CN=`cn`), or with
 * `signedBy` a certificate `<name>.pem` issued at once by that CA (OpenSSL 3 `req -x509 -CA`). */
function ecKey(dir: string, name: string, cn: string, signedBy?: { extensions: string[] }): void {
  openssl(
    dir,
    'req',
    ...(signedBy ? ['-x509', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-days', '1'] : []),
    ...(signedBy?.extensions.flatMap((extension) => ['-addext', extension]) ?? []),
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    `${name}.key`,
    '-out',
    signedBy ? `${name}.pem` : `${name}.csr`,
  );
}

/** The server certificate for 127.0.0.1, signed by the test CA. */
function serverCertificate(dir: string): void {
  ecKey(dir, 'server', '127.0.0.1', {
    extensions: ['subjectAltName=IP:127.0.0.1', 'extendedKeyUsage=serverAuth', 'basicConstraints=CA:FALSE'],
  });
}

/** A client key + certificate with CN=`name`, signed (as the registry signs kiosks) by the CA in `caDir`. */
async function clientCertificate(
  caDir: string,
  dir: string,
  name: string,
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  ecKey(dir, name, name);
  const signed = await signClientCertificate(
    { cert: join(caDir, 'ca.pem'), key: join(caDir, 'ca.key') },
    readFileSync(join(dir, `${name}.csr`), 'utf8'),
    name,
  );
  const cert = join(dir, `${name}.pem`);
  writeFileSync(cert, signed.certificate);
  return { cert, key };
}

describe('Mosquitto from deploy/: mutual TLS, per-kiosk ACL, bootstrap enrolment', () => {
  let dir: string;
  let mosquitto: ChildProcess | undefined;
  let stderr = '';
  let kioskPort: number;
  let bootstrapPort: number;
  let registry: ReferenceRegistry;
  const clients: MqttClient[] = [];
  const runtimes: KioskRuntime[] = [];
  const provisioned = new Map<string, string>();
  const steps: ProvisionStep[] = [];

  const provisionOptions = (kioskId: string, token: string): ProvisionOptions => ({
    configFile: join(dir, kioskId, 'etc', 'kiosk.json'),
    kioskId,
    brokerUrl: `mqtts://127.0.0.1:${kioskPort}`,
    bootstrapUrl: `mqtts://127.0.0.1:${bootstrapPort}`,
    brokerCa: join(dir, 'ca.pem'),
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
      ca: readFileSync(join(dir, 'ca.pem')),
      ...options,
    });
    clients.push(client);
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve(client));
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed before CONNACK')));
    });
  }

  const asIdentity = (name: 'registry' | 'ops', protocolVersion: 4 | 5 = 5) =>
    connect(kioskPort, {
      clientId: `test-${name}-${Math.random().toString(16).slice(2, 8)}`,
      protocolVersion,
      cert: readFileSync(join(dir, `${name}.pem`)),
      key: readFileSync(join(dir, `${name}.key`)),
    });

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
    await ensureTestCa(dir);
    serverCertificate(dir);
    const registryIdentity = await clientCertificate(dir, dir, 'registry');
    await clientCertificate(dir, dir, 'ops');
    kioskPort = await freePort();
    bootstrapPort = await freePort();
    const config = readFileSync(join(ROOT, 'deploy/mosquitto/cccd-kiosk.conf'), 'utf8')
      .replaceAll('/etc/mosquitto/cccd/', `${dir}/`)
      .replace('listener 8883', `listener ${kioskPort} 127.0.0.1`)
      .replace('listener 8884', `listener ${bootstrapPort} 127.0.0.1`)
      .replace('persistence true', 'persistence false')
      .replace('log_dest syslog', 'log_dest stderr');
    expect(config).not.toContain('/etc/mosquitto/cccd');
    writeFileSync(join(dir, 'mosquitto.conf'), config);
    for (const acl of ['kiosk.acl', 'bootstrap.acl'])
      copyFileSync(join(ROOT, 'deploy/mosquitto', acl), join(dir, acl));
    // Mosquitto started as root reads its files as the mosquitto user.
    chmodSync(dir, 0o755);
    for (const file of readdirSync(dir)) chmodSync(join(dir, file), 0o644);
    const broker = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    mosquitto = broker;
    broker.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const exited = () => (broker.exitCode !== null ? `mosquitto exited: ${stderr}` : undefined);
    await waitForPort(kioskPort, 5000, exited);
    await waitForPort(bootstrapPort, 5000, exited);

    registry = new ReferenceRegistry({
      brokerUrl: `mqtts://127.0.0.1:${kioskPort}`,
      databaseFile: join(dir, 'registry.sqlite'),
      log: quietLogger(),
      protocolVersion: 5,
      tls: { ca: join(dir, 'ca.pem'), ...registryIdentity },
      enrolmentCa: { cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') },
    });
    await registry.start();
    for (const kioskId of ['kiosk-a', 'kiosk-b']) {
      const token = await registry.issueEnrolmentToken(kioskId === 'kiosk-a' ? undefined : kioskId);
      provisioned.set(kioskId, token);
      await provisionKiosk(provisionOptions(kioskId, token), (step) => steps.push(step));
    }
  });

  afterAll(async () => {
    for (const client of clients) client.end(true);
    await Promise.all(runtimes.map((runtime) => runtime.stop()));
    await registry?.stop();
    mosquitto?.kill('SIGTERM');
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
    runtimes.push(runtime);
    await runtime.start();
    const deadline = Date.now() + 15_000;
    const online = async () => (await registry.kiosks()).some((k) => k.kioskId === 'kiosk-a' && k.online);
    while (!(await online()) && Date.now() < deadline) await sleep(100);
    expect(runtime.link.connected).toBe(true);
    expect(await online()).toBe(true);
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

  it('refuses a client without a certificate and one whose certificate is from another CA', async () => {
    await expect(connect(kioskPort, { clientId: 'no-cert', protocolVersion: 5 })).rejects.toThrow();
    const rogueDir = mkdtempSync(join(tmpdir(), 'rogue-ca-'));
    await ensureTestCa(rogueDir, 'rogue CA');
    const rogue = await clientCertificate(rogueDir, rogueDir, 'kiosk-b');
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

  it('a used token is refused with a clear message; re-running for an enrolled kiosk needs none', async () => {
    const rerun: ProvisionStep[] = [];
    await expect(
      provisionKiosk(provisionOptions('kiosk-c', provisioned.get('kiosk-a') ?? ''), (step) =>
        rerun.push(step),
      ),
    ).rejects.toBeInstanceOf(ProvisionFailed);
    expect(rerun.at(-1)).toMatchObject({ step: 'enrolment', ok: false });
    expect(rerun.at(-1)?.detail).toMatch(/already been used/);

    const key = readFileSync(join(dir, 'kiosk-b', 'etc', 'tls', 'kiosk.key'), 'utf8');
    const again: ProvisionStep[] = [];
    const { token: _used, ...withoutToken } = provisionOptions('kiosk-b', 'unused');
    await provisionKiosk(withoutToken, (step) => again.push(step));
    expect(again.every((step) => step.ok)).toBe(true);
    expect(again.find((step) => step.step === 'enrolment')?.detail).toMatch(/already enrolled/);
    expect(readFileSync(join(dir, 'kiosk-b', 'etc', 'tls', 'kiosk.key'), 'utf8')).toBe(key);
  });
});

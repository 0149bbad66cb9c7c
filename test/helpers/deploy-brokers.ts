/**
 * The broker side of deploy/ on loopback, for the deploy and security tests: the fleet Mosquitto
 * (deploy/mosquitto/cccd-kiosk.conf: kiosk listener + service listener) and the enrolment
 * Mosquitto (cccd-enrol.conf, bridged to the service listener), started from the shipped files
 * with only paths, ports, persistence and the log destination templated. The PKI is made here with
 * openssl: a service CA (server certificate, registry, ops, the enrolment bridge) and the
 * kiosk-only issuing CA the registry enrols with, with its CRL.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { expect } from 'vitest';
import { type CaFiles, ensureTestCa, signClientCertificate, writeCrl } from '../../src/registry/enrolment.js';
import { freePort, waitForPort } from './mosquitto.js';
import { ROOT } from './processes.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const openssl = (dir: string, ...args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** Service identities the tests use: the registry, a second registry worker, operations. */
export const SERVICE_IDENTITIES = ['registry', 'registry-2', 'ops'] as const;
export type ServiceIdentity = (typeof SERVICE_IDENTITIES)[number];

export interface DeployBrokers {
  dir: string;
  /** mutual TLS, kiosk-only CA (8883 in deploy/) */
  kioskPort: number;
  /** mutual TLS, service CA (8885) */
  servicePort: number;
  /** the enrolment broker (8884) */
  bootstrapPort: number;
  /** CA of the brokers' server certificate (the service CA) */
  serverCa: string;
  kioskCa: CaFiles & { crl: string };
  identity(name: ServiceIdentity): { cert: string; key: string };
  /** SIGHUP: Mosquitto reloads its configuration, ACL and the kiosk listener's CRL */
  reload(): Promise<void>;
  stop(): void;
  /** what the fleet broker logged (its connection messages) */
  fleetLog(): string;
}

/** A new EC P-256 key `<name>.key` with its request `<name>.csr` (subject CN=`cn`). */
export function keyAndCsr(dir: string, name: string, cn: string): void {
  openssl(
    dir,
    'req',
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
    `${name}.csr`,
  );
}

/** A client key + certificate with CN=`name` signed by `ca` (as the registry signs). */
export async function clientCertificate(
  ca: CaFiles,
  dir: string,
  name: string,
): Promise<{ cert: string; key: string }> {
  keyAndCsr(dir, name, name);
  const signed = await signClientCertificate(ca, readFileSync(join(dir, `${name}.csr`), 'utf8'), name);
  const cert = join(dir, `${name}.pem`);
  writeFileSync(cert, signed.certificate);
  return { cert, key: join(dir, `${name}.key`) };
}

/** The client-side TLS options of a certificate and key on disk. */
export const certificateOptions = (files: { cert: string; key: string }) => ({
  cert: readFileSync(files.cert),
  key: readFileSync(files.key),
});

/**
 * An MQTT client over TLS to one of the brokers' listeners, trusting their server CA. `connected`
 * resolves on CONNACK and rejects when the broker refuses (the client is returned either way, so a
 * test can end it).
 */
export function connectTls(
  brokers: Pick<DeployBrokers, 'serverCa'>,
  port: number,
  options: IClientOptions,
): { client: MqttClient; connected: Promise<MqttClient> } {
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    rejectUnauthorized: true,
    ca: readFileSync(brokers.serverCa),
    ...options,
  });
  const connected = new Promise<MqttClient>((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  return { client, connected };
}

function spawnMosquitto(configFile: string, onLog: (text: string) => void): ChildProcess {
  const broker = spawn('/usr/sbin/mosquitto', ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  broker.stderr?.on('data', (chunk: Buffer) => onLog(chunk.toString()));
  return broker;
}

export async function startDeployBrokers(dir: string): Promise<DeployBrokers> {
  const serviceCa = await ensureTestCa(dir, 'cccd-kiosk test service CA', 'service-ca');
  const kioskCa = {
    ...(await ensureTestCa(dir, 'cccd-kiosk test kiosk issuing CA', 'kiosk-ca')),
    crl: join(dir, 'kiosk-ca.crl'),
  };
  await writeCrl(kioskCa, kioskCa.crl, []);
  openssl(
    dir,
    'req',
    '-x509',
    '-CA',
    'service-ca.pem',
    '-CAkey',
    'service-ca.key',
    '-days',
    '1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-addext',
    'extendedKeyUsage=serverAuth',
    '-addext',
    'basicConstraints=CA:FALSE',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.pem',
  );
  for (const name of [...SERVICE_IDENTITIES, 'enrol-bridge']) await clientCertificate(serviceCa, dir, name);
  const [kioskPort, servicePort, bootstrapPort] = [await freePort(), await freePort(), await freePort()];

  const template = (file: string) =>
    readFileSync(join(ROOT, 'deploy/mosquitto', file), 'utf8')
      .replaceAll('/etc/mosquitto/cccd/', `${dir}/`)
      .replace('persistence true', 'persistence false')
      .replace('log_dest syslog', 'log_dest stderr');
  const fleetConfig = template('cccd-kiosk.conf')
    .replace('listener 8883', `listener ${kioskPort} 127.0.0.1`)
    .replace('listener 8885', `listener ${servicePort} 127.0.0.1`);
  const enrolConfig = template('cccd-enrol.conf')
    .replace('listener 8884', `listener ${bootstrapPort} 127.0.0.1`)
    .replace('address 127.0.0.1:8885', `address 127.0.0.1:${servicePort}`);
  for (const config of [fleetConfig, enrolConfig]) expect(config).not.toContain('/etc/mosquitto/cccd');
  writeFileSync(join(dir, 'fleet.conf'), fleetConfig);
  writeFileSync(join(dir, 'enrol.conf'), enrolConfig);
  // the test's registry-2 worker gets the registry's lines, as deploy/README.md tells operators
  const serviceAcl = readFileSync(join(ROOT, 'deploy/mosquitto/service.acl'), 'utf8');
  const registryBlock = /^user registry\n(?:topic .*\n)+/m.exec(serviceAcl)?.[0] ?? '';
  expect(registryBlock).toContain('topic write cccd/v1/kiosk/+/manifest');
  writeFileSync(
    join(dir, 'service.acl'),
    `${serviceAcl}\n${registryBlock.replace('user registry', 'user registry-2')}`,
  );
  for (const acl of ['kiosk.acl', 'bootstrap.acl'])
    copyFileSync(join(ROOT, 'deploy/mosquitto', acl), join(dir, acl));
  // Mosquitto started as root reads its files as the mosquitto user.
  chmodSync(dir, 0o755);
  for (const file of readdirSync(dir))
    if (statSync(join(dir, file)).isFile()) chmodSync(join(dir, file), 0o644);

  let fleetLog = '';
  let enrolLog = '';
  const fleet = spawnMosquitto(
    join(dir, 'fleet.conf'),
    (text) => (fleetLog = (fleetLog + text).slice(-20_000)),
  );
  const failed = (broker: ChildProcess, log: () => string) => () =>
    broker.exitCode !== null ? `mosquitto exited: ${log()}` : undefined;
  await waitForPort(
    kioskPort,
    5000,
    failed(fleet, () => fleetLog),
  );
  await waitForPort(
    servicePort,
    5000,
    failed(fleet, () => fleetLog),
  );
  const enrol = spawnMosquitto(
    join(dir, 'enrol.conf'),
    (text) => (enrolLog = (enrolLog + text).slice(-20_000)),
  );
  await waitForPort(
    bootstrapPort,
    5000,
    failed(enrol, () => enrolLog),
  );
  // enrolment works once the bridge is in
  const deadline = Date.now() + 10_000;
  while (!/connected from .* as enrol-bridge/.test(fleetLog) && Date.now() < deadline) await sleep(50);
  expect(fleetLog, `the enrolment bridge never connected: ${enrolLog}`).toMatch(/as enrol-bridge/);

  return {
    dir,
    kioskPort,
    servicePort,
    bootstrapPort,
    serverCa: serviceCa.cert,
    kioskCa,
    identity: (name) => ({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }),
    async reload() {
      const before = fleetLog.length;
      fleet.kill('SIGHUP');
      const until = Date.now() + 5000;
      while (!/Reloading config/i.test(fleetLog.slice(before)) && Date.now() < until) await sleep(20);
      await sleep(100);
    },
    stop() {
      enrol.kill('SIGTERM');
      fleet.kill('SIGTERM');
    },
    fleetLog: () => fleetLog,
  };
}

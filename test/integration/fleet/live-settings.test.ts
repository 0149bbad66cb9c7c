/**
 * Issue 13, "What it must show" 1: for each live setting of the schema, a signed push on Mosquitto
 * is acknowledged `applied` only once the part that uses it took it, and the value is read back
 * from that part (`collect-diagnostics` → `effective`, read from sessions, finger guard, logger,
 * link connection, device drivers; not the fleet room's copy). The runtime is wired as `kiosk
 * start` wires it (createKioskRuntime); its link speaks TLS with a client certificate.
 *
 * And one restart-required setting on a real `kiosk start` process: acknowledged
 * `pending-restart`, the kiosk restarts at idle with the status systemd restarts on (the test
 * starts it again, as Restart=always does), acknowledges `applied`, and the setting is in effect.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { parseConfig } from '../../../src/config/index.js';
import {
  generateOpsKeyPair,
  mergeSettings,
  privateKeyFromPem,
  settingClass,
  settingPaths,
  signCommand,
  signConfig,
  withPushedSettings,
} from '../../../src/fleet/index.js';
import { superviseInProcess } from '../../../src/runtime/restart.js';
import { EXIT_RESTART_REQUESTED, createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import type { Envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { createPtyPair, type PtyPair, ScannerEmulator } from '../../../devices/index.js';
import { capturingLogger } from '../../helpers/logs.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';
import { spawnKiosk } from '../../helpers/processes.js';
import { makeBrokerPki } from '../../helpers/test-pki.js';
import { until } from './fleet-rig.js';

interface ConfigResult {
  configId: string;
  status: string;
  restartRequired?: string[];
}

interface SerialParams {
  path: string;
  baudRate: number;
}

/** What `collect-diagnostics` says is in effect (src/runtime/live-config.ts `effective`). */
interface Effective {
  sessions: {
    timeouts: { idleMs: number; fingerAttemptMs: number; trayTakeMs: number; resultMs: number };
    maxFingerAttempts: number;
    identifyRateLimit: { attempts: number; windowMs: number };
    requestTimeoutMs: number;
    accessPolicy: string;
    fingerLockAfter: number;
  };
  logLevel: string;
  link: {
    keepaliveSeconds: number;
    tls?: { ca: string; cert: string; key: string };
    reconnect: { minMs: number; maxMs: number };
    requestTimeoutMs: number;
    connection?: { keepaliveSeconds: number; clientCertificate?: string; connects: number };
  };
  devices: { probeIntervalMs: number } & Partial<Record<string, SerialParams>>;
  telemetryIntervalMs: number;
}

/** `{ a: { b: value } }` for the path `a.b`. */
function nested(path: string, value: unknown): Record<string, unknown> {
  return path
    .split('.')
    .reduceRight<Record<string, unknown>>(
      (inner, key) => ({ [key]: inner }),
      value as Record<string, unknown>,
    );
}

const ops = generateOpsKeyPair();
const opsKey = privateKeyFromPem(ops.privateKeyPem);

/** A client of the plain listener that pushes configs and commands and reads the kiosk's answers. */
async function operator(url: string, kioskId: string) {
  const client: MqttClient = await mqtt.connectAsync(url, { protocolVersion: 5 });
  const events = await watchTopic(url, topics.events(kioskId));
  const results = await watchTopic(url, topics.cmdResult(kioskId));
  const configResults = (configId: string) =>
    events.received
      .map((received) => (JSON.parse(received.payload) as Envelope<ConfigResult>).body)
      .filter((body) => body.configId === configId);
  return {
    configResults,
    async push(version: number, settings: Record<string, unknown>) {
      const message = signConfig({ version, kioskId, settings, key: opsKey });
      await client.publishAsync(topics.config(kioskId), JSON.stringify(message), { qos: 1, retain: true });
      return message.id;
    },
    /** waits for the config's first acknowledgement with `status` */
    async result(configId: string, status: string, timeoutMs = 20_000): Promise<ConfigResult> {
      await until(() => configResults(configId).some((body) => body.status === status), timeoutMs);
      return configResults(configId).find((body) => body.status === status) as ConfigResult;
    },
    async effective(timeoutMs = 20_000): Promise<Effective> {
      const command = signCommand({ kioskId, name: 'collect-diagnostics', key: opsKey });
      const from = results.received.length;
      await client.publishAsync(topics.cmd(kioskId), JSON.stringify(command), { qos: 1 });
      const hit = await results.waitFor(
        (received) => (JSON.parse(received.payload) as Envelope).correlationId === command.correlationId,
        timeoutMs,
        from,
      );
      const body = (JSON.parse(hit.payload) as Envelope<{ data: { effective: Effective } }>).body;
      return body.data.effective;
    },
    /**
     * The kiosk's first connection subscribes after "link: connected": a command sent before its
     * subscription is not for anyone yet. Asks until one is answered.
     */
    async subscribed(): Promise<void> {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.effective(2000);
          return;
        } catch (error) {
          if (attempt >= 10) throw error;
        }
      }
    },
    async close() {
      await events.close();
      await results.close();
      await client.endAsync();
    },
  };
}

describe('live settings reach the parts that use them (issue 13, item 1)', () => {
  const kioskId = `live-${process.pid}`;
  let dir: string;
  let pki: string;
  let broker: MosquittoInstance;
  let runtime: KioskRuntime;
  let op: Awaited<ReturnType<typeof operator>>;
  const ptys: PtyPair[] = [];
  const emulators: ScannerEmulator[] = [];
  const path = (name: string) => join(dir, 'dev', name);
  const scans: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'live-'));
    pki = mkdtempSync(join(tmpdir(), 'live-pki-'));
    makeBrokerPki(pki, 'live-a', { 'kiosk-b': 'live-b' });
    copyFileSync(join(pki, 'ca.pem'), join(pki, 'ca-copy.pem'));
    const tlsPort = await freePort();
    broker = await startMosquitto([
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(pki, 'ca.pem')}`,
      `certfile ${join(pki, 'server.pem')}`,
      `keyfile ${join(pki, 'server.key')}`,
      'require_certificate true',
    ]);
    // two places for each serial device; the scanner has an emulator at both (it scans)
    for (const device of ['scanner', 'fingerprint', 'printer', 'dispenser'])
      for (const at of ['a', 'b'])
        ptys.push(await createPtyPair(path(`${device}-${at}`), path(`${device}-${at}.emu`)));
    for (const at of ['a', 'b']) {
      const emulator = new ScannerEmulator({ path: path(`scanner-${at}.emu`) });
      await emulator.start();
      emulators.push(emulator);
    }
    const config = parseConfig(
      {
        kiosk: { id: kioskId },
        mqtt: {
          url: `mqtts://127.0.0.1:${tlsPort}`,
          protocolVersion: 5,
          tls: { ca: join(pki, 'ca.pem'), cert: join(pki, 'kiosk.pem'), key: join(pki, 'kiosk.key') },
          reconnect: { minMs: 100, maxMs: 1000 },
        },
        dataDir: join(dir, 'kiosk'),
        ui: { port: 0 },
        devices: {
          scanner: { path: path('scanner-a'), baudRate: 9600 },
          fingerprint: { path: path('fingerprint-a'), baudRate: 57600 },
          printer: { path: path('printer-a'), baudRate: 9600 },
          dispenser: { path: path('dispenser-a'), baudRate: 57600 },
        },
        fleet: { opsPublicKeys: [ops.publicKey] },
      },
      'test',
    );
    runtime = createKioskRuntime(config, capturingLogger('info').log);
    await runtime.start();
    runtime.bus.on('test', 'scanner.scan', ({ text }) => void scans.push(text));
    await until(() => runtime.link.connected, 15_000);
    op = await operator(broker.url, kioskId);
    await op.subscribed();
  });

  afterAll(async () => {
    await op?.close();
    await runtime?.stop();
    for (const emulator of emulators) await emulator.stop();
    for (const pty of ptys) await pty.close();
    await broker?.stop();
  });

  /** Each case: the live settings it pushes, the value, and where the part in effect shows it. */
  const cases: Array<{ settings: string[]; value: unknown; read: (effective: Effective) => unknown }> = [
    { settings: ['timeouts.sessionIdleMs'], value: 45_000, read: (e) => e.sessions.timeouts.idleMs },
    { settings: ['timeouts.fingerAttemptMs'], value: 9000, read: (e) => e.sessions.timeouts.fingerAttemptMs },
    { settings: ['timeouts.trayTakeMs'], value: 20_000, read: (e) => e.sessions.timeouts.trayTakeMs },
    {
      settings: ['timeouts.requestMs'],
      value: 7000,
      // both parts that make registry requests
      read: (e) => [e.sessions.requestTimeoutMs, e.link.requestTimeoutMs].every((ms) => ms === 7000) && 7000,
    },
    { settings: ['sessions.fingerAttempts'], value: 2, read: (e) => e.sessions.maxFingerAttempts },
    { settings: ['sessions.fingerLockAfter'], value: 4, read: (e) => e.sessions.fingerLockAfter },
    {
      settings: ['sessions.identifyRateLimit.attempts', 'sessions.identifyRateLimit.windowMs'],
      value: { attempts: 3, windowMs: 30_000 },
      read: (e) => e.sessions.identifyRateLimit,
    },
    { settings: ['sessions.resultMs'], value: 8000, read: (e) => e.sessions.timeouts.resultMs },
    { settings: ['card.accessPolicy'], value: 'require-pace', read: (e) => e.sessions.accessPolicy },
    { settings: ['log.level'], value: 'debug', read: (e) => e.logLevel },
    { settings: ['devices.probeIntervalMs'], value: 3000, read: (e) => e.devices.probeIntervalMs },
    {
      settings: ['mqtt.reconnect.minMs', 'mqtt.reconnect.maxMs'],
      value: { minMs: 150, maxMs: 2000 },
      read: (e) => e.link.reconnect,
    },
    {
      settings: ['mqtt.keepaliveSeconds'],
      value: 45,
      // the connection in effect was made with it (the link reconnected)
      read: (e) => e.link.connection?.keepaliveSeconds,
    },
    ...(['scanner', 'fingerprint', 'printer', 'dispenser'] as const).flatMap((device) => [
      {
        settings: [`devices.${device}.path`],
        value: `b`,
        read: (e: Effective) =>
          e.devices[device]?.path === path(`${device}-b`) ? 'b' : e.devices[device]?.path,
      },
      {
        settings: [`devices.${device}.baudRate`],
        value: 38400,
        read: (e: Effective) => e.devices[device]?.baudRate,
      },
    ]),
  ];

  it('has a case for every live setting of the schema', () => {
    const live = settingPaths().filter((setting) => settingClass(setting) === 'live');
    const tested = new Set([
      ...cases.flatMap((c) => c.settings),
      'mqtt.tls.ca',
      'mqtt.tls.cert',
      'mqtt.tls.key',
    ]);
    expect(live.filter((setting) => !tested.has(setting))).toEqual([]);
  });

  let version = 0;
  let layered: Record<string, unknown> = {};
  /** Pushes `settings` on top of all pushed before (so only they change) and waits for `applied`. */
  async function pushApplied(settings: Record<string, unknown>): Promise<ConfigResult> {
    layered = mergeSettings(layered, settings);
    const configId = await op.push(++version, layered);
    const result = await op.result(configId, 'applied');
    expect(op.configResults(configId).map((body) => body.status)).toEqual(['applied']);
    return result;
  }

  it('acknowledges each live setting applied once its part holds it', async () => {
    for (const { settings, value, read } of cases) {
      const [first] = settings;
      // a group of settings (rate limit, backoff) is pushed as its object
      const group = settings.length > 1 ? first!.split('.').slice(0, -1).join('.') : first!;
      const pushed =
        group.startsWith('devices.') && group.endsWith('.path') ? path(`${group.split('.')[1]}-b`) : value;
      const before = read(await op.effective());
      expect(before, group).not.toEqual(value);
      const result = await pushApplied(nested(group, pushed));
      expect(result.restartRequired, group).toBeUndefined();
      expect(read(await op.effective()), group).toEqual(value);
    }
  });

  it('reopens the scanner at its new path: scans come from there', async () => {
    await until(() => runtime.devices.summary().scanner === 'ok');
    await emulators[1]!.scan('from-b');
    await until(() => scans.includes('from-b'));
  });

  it('reconnects the link with a new TLS identity', async () => {
    const before = await op.effective();
    expect(before.link.connection?.clientCertificate).toBe('live-a');
    const tls = {
      ca: join(pki, 'ca-copy.pem'),
      cert: join(pki, 'kiosk-b.pem'),
      key: join(pki, 'kiosk-b.key'),
    };
    await pushApplied({ mqtt: { tls } });
    // applied once the link reconnected with it: the connection in effect presents the new certificate
    const after = await op.effective();
    expect(after.link.tls).toEqual(tls);
    expect(after.link.connection?.clientCertificate).toBe('live-b');
    expect(after.link.connection?.connects).toBeGreaterThan(before.link.connection?.connects ?? 0);
  });
});

describe('a restart-required setting restarts `kiosk start` at idle (issue 13, item 1)', () => {
  let broker: MosquittoInstance;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('acknowledges pending-restart, exits for systemd, and is applied and in effect after the restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'live-restart-'));
    const kioskId = `restart-live-${process.pid}`;
    const file = join(dir, 'kiosk.json');
    writeFileSync(
      file,
      JSON.stringify({
        kiosk: { id: kioskId },
        mqtt: { url: broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
        dataDir: join(dir, 'data'),
        ui: { port: 0 },
        fleet: { opsPublicKeys: [ops.publicKey] },
      }),
    );
    const op = await operator(broker.url, kioskId);
    const first = spawnKiosk(['start', '--config', file]);
    try {
      await first.waitFor(/link: connected/, 30_000);
      await op.subscribed();
      expect((await op.effective()).telemetryIntervalMs).toBe(60_000);
      const configId = await op.push(1, { mqtt: { telemetryIntervalMs: 7000 } });
      // no device is configured: the kiosk is out of service, which is idle — it restarts at once
      const exit = await first.exited;
      expect(exit.code).toBe(EXIT_RESTART_REQUESTED);
      expect(first.output()).toMatch(/restarting at idle/);
      // systemd (Restart=always) starts it again
      const second = spawnKiosk(['start', '--config', file]);
      try {
        await op.result(configId, 'applied', 30_000);
        const statuses = op.configResults(configId).map((body) => body.status);
        expect(statuses).toEqual(['pending-restart', 'applied']);
        expect(op.configResults(configId)[0]?.restartRequired).toEqual(['mqtt.telemetryIntervalMs']);
        expect((await op.effective()).telemetryIntervalMs).toBe(7000);
        expect(second.child.exitCode).toBeNull(); // applied: no second restart
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      // a failure before its restart leaves no kiosk behind
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
      await op.close();
    }
  });

  it("restarts in place under `kiosk demo`'s supervisor, which builds the runtime with the setting", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'live-demo-'));
    const kioskId = `demo-live-${process.pid}`;
    const fileConfig = parseConfig(
      {
        kiosk: { id: kioskId },
        mqtt: { url: broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
        dataDir: join(dir, 'data'),
        ui: { port: 0 },
        fleet: { opsPublicKeys: [ops.publicKey] },
      },
      'test',
    );
    const { log, text } = capturingLogger('info');
    const runtimes: KioskRuntime[] = [];
    // what src/demo/demo.ts runs: the file's config with the stored pushed settings, rebuilt on restart
    await superviseInProcess(
      async () => createKioskRuntime(await withPushedSettings(fileConfig, log), log, { fileConfig }),
      (runtime) => void runtimes.push(runtime),
      log,
    );
    const op = await operator(broker.url, kioskId);
    try {
      await op.subscribed();
      const configId = await op.push(1, { mqtt: { telemetryIntervalMs: 8000 } });
      await op.result(configId, 'applied');
      expect(op.configResults(configId).map((body) => body.status)).toEqual(['pending-restart', 'applied']);
      expect(runtimes).toHaveLength(2);
      expect(text()).toMatch(/supervisor: restarting the kiosk runtime/);
      expect((await op.effective()).telemetryIntervalMs).toBe(8000);
    } finally {
      await op.close();
      await runtimes.at(-1)?.stop();
    }
  });
});

/**
 * Issue 13, must-show item 2: a pushed configuration is on probation, and a bad one comes back to
 * the last good configuration across restarts. Real Mosquitto, real `kiosk start` processes under a
 * supervisor that restarts them as systemd does (deploy/systemd/cccd-kiosk.service: Restart=always),
 * operations' signed config pushed on the kiosk's retained config topic. What the kiosk did is read
 * from outside: its `config.result` events on the broker and its output.
 *
 * The bad configuration points `mqtt.url` at a port where no broker listens. It needs a restart to
 * take effect; the test restarts the kiosk (what the restart at idle, or an operator, does).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KioskConfigInput } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signConfig } from '../../../src/fleet/index.js';
import type { Envelope, MessageBody } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { type Received, watchTopic } from '../../helpers/mqtt-watch.js';
import { type Spawned, spawnKiosk } from '../../helpers/processes.js';
import { until } from './fleet-rig.js';

type ConfigResult = MessageBody<'config.result'>;

const ON_PROBATION = /starting with a configuration on probation/;

/**
 * `npm test` runs the plain revert; `npm run test:probation` (PROBATION_ALL=1, in .ci/run) adds the
 * kiosk SIGKILLed during probation (more starts, and a grace long enough for the kill to land before
 * the revert) and a crash loop.
 */
const CASES = [
  {
    title: 'reverts a pushed mqtt.url of a dead broker to the last good config, reconnects and reports it',
    name: 'dead-broker',
    killDuringProbation: false,
    brokerUnreachableMs: 3000,
  },
  ...(process.env.PROBATION_ALL === '1'
    ? [
        {
          title: 'does the same when the kiosk is SIGKILLed during probation',
          name: 'killed',
          killDuringProbation: true,
          brokerUnreachableMs: 10_000,
        },
      ]
    : []),
];

/** Generous deadlines: the machine is shared; nothing here asserts a duration. */
const DEADLINE_MS = 90_000;
/** The probation window N: far longer than a revert takes, so the revert happens within it. */
const PROBATION_MS = 600_000;

/** `kiosk start` restarted whenever it exits, as systemd's Restart=always does. */
interface Supervised {
  readonly current: Spawned;
  /** every run's output so far, oldest first */
  output(): string;
  /** what `systemctl restart` does: SIGTERM, wait, start again */
  restart(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

function supervise(configFile: string): Supervised {
  const runs: Spawned[] = [];
  let stopping = false;
  const launch = () => {
    const run = spawnKiosk(['start', '--config', configFile]);
    runs.push(run);
    void run.exited.then(() => {
      if (!stopping) setTimeout(launch, 200).unref(); // RestartSec, shortened for the test
    });
  };
  launch();
  const supervised: Supervised = {
    get current() {
      return runs[runs.length - 1]!;
    },
    output: () => runs.map((run) => run.output()).join('\n'),
    async restart() {
      await supervised.kill('SIGTERM');
    },
    async kill(signal) {
      const run = supervised.current;
      const count = runs.length;
      run.child.kill(signal);
      await run.exited;
      await until(() => runs.length > count, DEADLINE_MS);
    },
    async stop() {
      stopping = true;
      const run = supervised.current;
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGTERM');
        await run.exited;
      }
    },
  };
  return supervised;
}

describe('pushed configuration on probation, across restarts (issue 13 item 2)', () => {
  let broker: MosquittoInstance;
  let ops: MqttClient;
  const opsKeys = generateOpsKeyPair();
  const opsKey = privateKeyFromPem(opsKeys.privateKeyPem);
  const kiosks: Supervised[] = [];
  const watchers: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    ops = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  });
  afterEach(async () => {
    await Promise.all(kiosks.splice(0).map((kiosk) => kiosk.stop()));
    await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
  });
  afterAll(async () => {
    await ops?.endAsync();
    await broker?.stop();
  });

  /** A kiosk connected to the broker, its config events watched, nothing pushed to it yet. */
  async function startKiosk(name: string, probation: { brokerUnreachableMs: number; maxStarts: number }) {
    const kioskId = `${name}-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), `probation-${name}-`));
    const config: KioskConfigInput = {
      kiosk: { id: kioskId },
      mqtt: { url: broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
      dataDir: join(dir, 'data'),
      ui: { host: '127.0.0.1', port: await freePort() },
      fleet: {
        opsPublicKeys: [opsKeys.publicKey],
        rollbackAfterMs: PROBATION_MS,
        probation,
      },
    };
    const file = join(dir, 'kiosk.json');
    writeFileSync(file, JSON.stringify(config));
    const events = await watchTopic(broker.url, topics.events(kioskId));
    watchers.push(events);
    const kiosk = supervise(file);
    kiosks.push(kiosk);
    await until(() => /link: connected/.test(kiosk.output()), DEADLINE_MS);
    return { kioskId, kiosk, events };
  }

  /** Reports of `configId` with `status`, one per event id (QoS 1: a redelivery repeats an id). */
  function reports(events: { received: Received[] }, configId: string, status: ConfigResult['status']) {
    const ids = events.received
      .map((received) => JSON.parse(received.payload) as Envelope<ConfigResult>)
      .filter((event) => event.type === 'config.result' && event.body.configId === configId)
      .filter((event) => event.body.status === status)
      .map((event) => event.id);
    return new Set(ids);
  }

  async function push(kioskId: string, version: number, settings: Record<string, unknown>) {
    const message = signConfig({ version, kioskId, settings, key: opsKey });
    await ops.publishAsync(topics.config(kioskId), JSON.stringify(message), { qos: 1, retain: true });
    return message;
  }

  async function resultFor(
    events: Awaited<ReturnType<typeof watchTopic>>,
    configId: string,
    status: ConfigResult['status'],
  ): Promise<ConfigResult> {
    const hit = await events.waitFor((received) => {
      const event = JSON.parse(received.payload) as Envelope<ConfigResult>;
      return (
        event.type === 'config.result' && event.body.configId === configId && event.body.status === status
      );
    }, DEADLINE_MS);
    return (JSON.parse(hit.payload) as Envelope<ConfigResult>).body;
  }

  /**
   * After the revert was reported: another restart and a later config whose result comes through
   * the same in-order outbox. A second report of the revert (another event, not a QoS 1 redelivery
   * of the same one) would have been published before it.
   */
  async function expectReportedOnce(
    kiosk: Supervised,
    kioskId: string,
    events: Awaited<ReturnType<typeof watchTopic>>,
    configId: string,
  ): Promise<void> {
    await kiosk.restart();
    const later = await push(kioskId, 2, { timeouts: { requestMs: 12_000 } });
    expect(await resultFor(events, later.id, 'applied')).toMatchObject({ version: 2 });
    expect(reports(events, configId, 'rolled-back').size).toBe(1);
  }

  for (const { title, name, killDuringProbation, brokerUnreachableMs } of CASES)
    it(title, async () => {
      // a crash loop needs more starts than this test makes: the broker is what reverts
      const { kioskId, kiosk, events } = await startKiosk(name, { brokerUnreachableMs, maxStarts: 10 });
      const deadBroker = `mqtt://127.0.0.1:${await freePort()}`;
      const bad = await push(kioskId, 1, { mqtt: { url: deadBroker } });
      expect(await resultFor(events, bad.id, 'applied')).toMatchObject({ version: 1 });
      await kiosk.restart();
      // the kiosk starts on the candidate, chosen before its link connects: to nowhere
      await until(() => ON_PROBATION.test(kiosk.current.output()), DEADLINE_MS);
      if (killDuringProbation) {
        await kiosk.kill('SIGKILL');
        // started again: the candidate is still on probation (this start is counted against it)
        await until(() => ON_PROBATION.test(kiosk.current.output()), DEADLINE_MS);
      }

      const reverted = await resultFor(events, bad.id, 'rolled-back');
      expect(reverted).toMatchObject({
        version: 1,
        reason: 'unhealthy',
        detail: `broker unreachable for ${brokerUnreachableMs / 1000} s`,
      });
      expect(kiosk.output()).not.toMatch(/passed probation/);
      // it runs the last good configuration: connected again, to the broker it started with
      await until(() => kiosk.current.output().includes('link: connected'), DEADLINE_MS);
      expect(kiosk.current.output()).not.toMatch(ON_PROBATION);
      await expectReportedOnce(kiosk, kioskId, events, bad.id);
    });

  if (process.env.PROBATION_ALL === '1')
    it('reverts a config that makes the kiosk crash at every start (a crash loop) after maxStarts', async () => {
      const { kioskId, kiosk, events } = await startKiosk('crash-loop', {
        brokerUnreachableMs: 60_000,
        maxStarts: 2,
      });
      // the touchscreen's port taken by another program: the runtime cannot start with it
      const squatter = createServer();
      await new Promise<void>((listening) => squatter.listen(0, '127.0.0.1', listening));
      try {
        const busyPort = (squatter.address() as AddressInfo).port;
        const bad = await push(kioskId, 1, { ui: { port: busyPort } });
        expect(await resultFor(events, bad.id, 'applied')).toMatchObject({ restartRequired: ['ui.port'] });
        await kiosk.restart();
        const reverted = await resultFor(events, bad.id, 'rolled-back');
        expect(reverted).toMatchObject({
          version: 1,
          reason: 'unhealthy',
          detail: 'crash loop: started 3 times without passing probation',
        });
        expect(kiosk.output()).toMatch(/EADDRINUSE/);
        await until(() => kiosk.current.output().includes('kiosk runtime ready'), DEADLINE_MS);
        await expectReportedOnce(kiosk, kioskId, events, bad.id);
      } finally {
        squatter.close();
      }
    });
});

/**
 * One worker process of `npm run bench:fleet`: runs a slice of the simulated fleet. Each kiosk is
 * what a deployed kiosk runs on its fleet path, built the way src/main.ts builds it:
 * - its own SQLite `Store` (own file, WAL, the config's `synchronous`), so a pushed config is
 *   decided, committed and its `config.result` queued in the outbox exactly as on a kiosk;
 * - the real `FleetService` (signature, binding, nonce, version, schema, apply, audit, result);
 * - the real `KioskLink` with its own mqtt.js client (persistent session, last will, retained
 *   status, the link's reconnect backoff), draining the store's outbox.
 * Only the hardware is absent: the kiosk reports itself healthy (no device manager).
 *
 * Several workers share the fleet because one process may hold at most `ulimit -n` descriptors
 * and each kiosk needs a socket plus its SQLite files (counted and reported to the parent).
 *
 * Protocol with the parent (IPC): it sends `{ kind: 'stop' }` or `{ kind: 'connects', since }`;
 * the worker sends `ready` once its kiosks are built, `tick` every 250 ms (connected count and
 * the connect times since the last tick), and `connects` (each kiosk's first connect at or after
 * `since`, wall-clock ms).
 */
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseConfig } from '../../src/config/index.js';
import { FleetService } from '../../src/fleet/index.js';
import { KioskLink } from '../../src/link/link.js';
import { envelope } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { Store } from '../../src/store/index.js';
import { EventBus } from '../../src/util/bus.js';
import type { RuntimeEvents } from '../../src/util/events.js';
import { createLogger } from '../../src/util/log.js';
import { kioskIdOf, type ParentMessage, type WorkerMessage, type WorkerSpec } from './protocol.js';

interface SimKiosk {
  store: Store;
  fleet: FleetService;
  link: KioskLink;
  connects: number[];
  /** times the link went down (the drop, then each failed attempt) */
  closes: number[];
}

const log = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent', pretty: false });
const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};
const openDescriptors = () => readdirSync('/proc/self/fd').length;
/** CPU time (user + system) this process used so far */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

async function buildKiosk(spec: WorkerSpec, index: number): Promise<SimKiosk> {
  const id = kioskIdOf(index);
  const dataDir = join(spec.dataRoot, id);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const config = parseConfig(
    {
      kiosk: { id },
      mqtt: { url: spec.brokerUrl, protocolVersion: 5 },
      dataDir,
      fleet: { opsPublicKeys: [spec.opsPublicKey] },
    },
    'bench',
  );
  const bus = new EventBus<RuntimeEvents>(log);
  const store = new Store({
    file: join(dataDir, 'kiosk.sqlite'),
    synchronous: config.store.synchronous,
    defaultTopic: topics.events(id),
    log,
  });
  await store.start();
  const holder: { link?: KioskLink } = {};
  const fleet = new FleetService({
    kioskId: id,
    baseConfig: config,
    store,
    bus,
    log,
    publish: (topic, message) =>
      holder.link ? holder.link.publish(topic, message) : Promise.reject(new Error('no link')),
    health: () => ({ healthy: true }),
    diagnostics: () => ({ kioskId: id }),
    setLogLevel: () => undefined,
  });
  await fleet.start();
  const link = new KioskLink({
    kioskId: id,
    url: config.mqtt.url,
    protocolVersion: config.mqtt.protocolVersion,
    keepaliveSeconds: config.mqtt.keepaliveSeconds,
    reconnect: config.mqtt.reconnect,
    log,
    bus,
    describe: () => ({
      version: 'bench',
      devices: {},
      queueDepth: store.queueDepth,
      ...fleet.statusFields(),
    }),
    store,
    window: config.store.outboxWindow,
    inbound: fleet.inbound,
    subscriptions: [
      ...fleet.subscriptions,
      {
        topic: spec.echoTopic,
        // not awaited: mqtt.js holds the next packet (and this one's PUBACK) until the handler returns
        handle: async (payload) => {
          if (payload.length === 0) return; // the retained warm-up echo cleared
          void link
            .publish(topics.events(id), { ...envelope('registry.ping', id, {}), id: payload.toString() })
            .catch(() => undefined);
        },
      },
    ],
  });
  holder.link = link;
  const kiosk: SimKiosk = { store, fleet, link, connects: [], closes: [] };
  bus.on('bench', 'link.state', ({ state }) => {
    if (state === 'up') kiosk.connects.push(Date.now());
    else kiosk.closes.push(Date.now());
  });
  return kiosk;
}

/** Builds `count` kiosks, `parallel` at a time (opening thousands of SQLite files at once only queues). */
async function buildAll(spec: WorkerSpec, parallel: number): Promise<SimKiosk[]> {
  const kiosks: SimKiosk[] = new Array<SimKiosk>(spec.count);
  let next = 0;
  const lane = async () => {
    while (next < spec.count) {
      const offset = next++;
      kiosks[offset] = await buildKiosk(spec, spec.first + offset);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return kiosks;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.BENCH_WORKER_SPEC ?? '') as WorkerSpec;
  const began = performance.now();
  const before = openDescriptors();
  const kiosks = await buildAll(spec, 32);
  // connections are opened after every store is: the parent times the fleet's connect as a whole
  await Promise.all(kiosks.map((kiosk) => kiosk.link.start()));
  const descriptorsPerKiosk = (openDescriptors() - before) / Math.max(1, kiosks.length);
  send({
    kind: 'ready',
    kiosks: kiosks.length,
    descriptorsPerKiosk,
    buildMs: performance.now() - began,
    rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
  });
  let reported = kiosks.map(() => 0);
  // how late this process runs its timers (a kiosk's reconnect fires late by as much)
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const tick = setInterval(() => {
    const connects: number[] = [];
    kiosks.forEach((kiosk, index) => {
      connects.push(...kiosk.connects.slice(reported[index]));
    });
    reported = kiosks.map((kiosk) => kiosk.connects.length);
    send({
      kind: 'tick',
      connected: kiosks.filter((kiosk) => kiosk.link.connected).length,
      connects,
      rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
      cpuMs: cpuMs(),
      lagMaxMs: lag.max / 1e6,
    });
    lag.reset();
  }, 250);
  // the parent is gone (it failed): nothing will ask for the fleet any more
  process.on('disconnect', () => {
    clearInterval(tick);
    void stopAll(kiosks).finally(() => process.exit(1));
  });
  process.on('message', (message: ParentMessage) => {
    if (message.kind === 'connects')
      send({
        kind: 'connects',
        firsts: kiosks.map((kiosk) => kiosk.connects.find((at) => at >= message.since) ?? Number.NaN),
        attempts: kiosks.map((kiosk) => {
          const back = kiosk.connects.find((at) => at >= message.since) ?? Infinity;
          return kiosk.closes.filter((at) => at >= message.since && at < back).length - 1;
        }),
      });
    if (message.kind === 'stop') {
      clearInterval(tick);
      void stopAll(kiosks).finally(() => process.exit(0));
    }
  });
}

async function stopAll(kiosks: SimKiosk[]): Promise<void> {
  await Promise.all(
    kiosks.map(async (kiosk) => {
      await kiosk.link.stop().catch(() => undefined);
      await kiosk.fleet.stop().catch(() => undefined);
      await kiosk.store.stop().catch(() => undefined);
    }),
  );
}

main().catch((error: unknown) => {
  send({ kind: 'failed', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  process.exit(1);
});

/**
 * Scale out (issue 13): two reference-registry instances in one share group on a real Mosquitto
 * (2.x implements MQTT 5 shared subscriptions, `$share/<group>/…`) split the fleet's messages:
 * every event a kiosk sends is kept by exactly one of them, and both get some. The kiosks are the
 * real outbox path: a SQLite store drained by the kiosk link.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KioskLink } from '../../../src/link/link.js';
import { sharedTopics, topics } from '../../../src/link/topics.js';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { Store } from '../../../src/store/index.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';

const KIOSKS = 4;
const EVENTS_PER_KIOSK = 60;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function startKiosk(broker: MosquittoInstance, dir: string, kioskId: string) {
  const log = quietLogger();
  const store = new Store({
    file: join(dir, `${kioskId}.sqlite`),
    synchronous: 'NORMAL',
    defaultTopic: topics.events(kioskId),
    log,
  });
  await store.start();
  const link = new KioskLink({
    kioskId,
    url: broker.url,
    protocolVersion: 5,
    keepaliveSeconds: 30,
    reconnect: { minMs: 100, maxMs: 1000 },
    log,
    bus: new EventBus<RuntimeEvents>(log),
    describe: () => ({ version: 'test', devices: {}, queueDepth: store.queueDepth }),
    store,
  });
  await link.start();
  return {
    store,
    link,
    async stop() {
      await link.stop();
      await store.stop();
    },
  };
}

describe('MQTT 5 shared subscriptions: two registry instances split the fleet (Mosquitto)', () => {
  let broker: MosquittoInstance;
  let dir: string;
  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), 'shared-sub-'));
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('names shared filters `$share/<group>/<filter>` and refuses a group name with wildcards', () => {
    expect(sharedTopics([topics.allEvents()], 'registry')).toEqual([
      '$share/registry/cccd/v1/kiosk/+/events',
    ]);
    expect(sharedTopics([topics.allEvents()], undefined)).toEqual([topics.allEvents()]);
    expect(() => sharedTopics([topics.allEvents()], 'a/b')).toThrow(/share group/);
    expect(() => sharedTopics([topics.allEvents()], '+')).toThrow(/share group/);
  });

  it('keeps every kiosk event exactly once across both instances, and each instance gets some', async () => {
    const registries = ['a', 'b'].map(
      (name) =>
        new ReferenceRegistry({
          brokerUrl: broker.url,
          databaseFile: join(dir, `registry-${name}.sqlite`),
          log: quietLogger(),
          // each member its own client id (and persistent session): one id for both would make
          // the broker hand the connection back and forth, which splits nothing
          clientId: `registry-${name}-${process.pid}`,
          protocolVersion: 5,
          shareGroup: 'registry',
        }),
    );
    for (const registry of registries) await registry.start();
    const kioskIds = Array.from({ length: KIOSKS }, (_, index) => `share-${index + 1}`);
    const kiosks = await Promise.all(kioskIds.map((kioskId) => startKiosk(broker, dir, kioskId)));
    try {
      await until(async () => kiosks.every((kiosk) => kiosk.link.connected), 10_000);
      for (let n = 0; n < EVENTS_PER_KIOSK; n++)
        await Promise.all(
          kiosks.map((kiosk) =>
            kiosk.store.enqueue({ type: 'pickup.completed', body: { pickupId: `p-${n}`, slot: n % 100 } }),
          ),
        );
      const keptBy = async (registry: ReferenceRegistry) => {
        await registry.settled();
        const ids: string[] = [];
        for (const kioskId of kioskIds)
          ids.push(...(await registry.events(kioskId)).map((event) => event.eventId));
        return ids;
      };
      const total = KIOSKS * EVENTS_PER_KIOSK;
      // every event reached the broker (the outboxes are empty) and was kept by one instance
      await until(async () => {
        const [a, b] = await Promise.all(registries.map(keptBy));
        return (
          kiosks.every((kiosk) => kiosk.store.queueDepth === 0) &&
          (a?.length ?? 0) + (b?.length ?? 0) >= total
        );
      }, 30_000);
      const [a = [], b = []] = await Promise.all(registries.map(keptBy));
      const inBoth = a.filter((id) => new Set(b).has(id));
      expect(inBoth).toEqual([]);
      expect(new Set([...a, ...b]).size).toBe(total);
      expect(a.length + b.length).toBe(total);
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      // no duplicate within one instance either (a redelivery would be counted there)
      for (const registry of registries)
        for (const kioskId of kioskIds) expect((await registry.eventCounts(kioskId)).duplicates).toBe(0);
    } finally {
      await Promise.all(kiosks.map((kiosk) => kiosk.stop()));
      for (const registry of registries) await registry.stop();
    }
  });
});

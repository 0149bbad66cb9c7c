import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { createKioskRuntime } from '../../../src/main.js';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';

// `npm test` stops the broker for a few seconds; `npm run test:outage` for the 30 s.
const OUTAGE_SECONDS = Number(process.env.OUTAGE_SECONDS ?? 4);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe.each([4, 5] as const)('broker outage, MQTT protocol version %i (Mosquitto)', (protocolVersion) => {
  let mosquitto: MosquittoInstance;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outage-'));
    chmodSync(dir, 0o777); // Mosquitto started as root drops to its own user, which writes its db here
    // The broker keeps the registry's session across its own restart, as a production broker does.
    mosquitto = await startMosquitto(['persistence true', `persistence_location ${dir}/`]);
  });
  afterAll(async () => {
    await mosquitto.stop();
  });

  it(
    `keeps events while Mosquitto is down for ${OUTAGE_SECONDS} s and delivers all, in order, after it returns`,
    { timeout: 90_000 + OUTAGE_SECONDS * 2000 },
    async () => {
      const kioskId = `outage-${protocolVersion}-${process.pid}`;
      const registry = new ReferenceRegistry({
        brokerUrl: mosquitto.url,
        databaseFile: join(dir, 'registry.sqlite'),
        log: quietLogger(),
        clientId: `registry-outage-${protocolVersion}`,
        protocolVersion,
      });
      await registry.start();
      const config = parseConfig(
        {
          kiosk: { id: kioskId },
          mqtt: {
            url: mosquitto.url,
            protocolVersion,
            keepaliveSeconds: 5,
            reconnect: { minMs: 100, maxMs: 1000 },
          },
          dataDir: join(dir, `kiosk-${protocolVersion}`),
          ui: { port: 0 },
        },
        'test',
      );
      const runtime = createKioskRuntime(config, quietLogger());
      await runtime.start();
      let produced = 0;
      let producing = true;
      const producer = (async () => {
        while (producing) {
          const n = produced++;
          await runtime.store.enqueue({
            type: 'pickup.completed',
            body: { pickupId: `outage-${n}`, slot: n % 100 },
          });
          await sleep(5);
        }
      })();
      try {
        await sleep(1000);
        await mosquitto.stop();
        const atStop = produced;
        await sleep(OUTAGE_SECONDS * 1000);
        const depthDuringOutage = runtime.store.queueDepth;
        await mosquitto.start();
        await sleep(1000);
        producing = false;
        await producer;
        expect(produced - atStop).toBeGreaterThan(10);
        expect(depthDuringOutage).toBeGreaterThan(0);

        const deadline = Date.now() + 60_000;
        while (runtime.store.queueDepth > 0 && Date.now() < deadline) await sleep(100);
        expect(runtime.store.queueDepth).toBe(0);
        let counts = await registry.eventCounts(kioskId);
        while (counts.received < produced && Date.now() < deadline) {
          await sleep(100);
          counts = await registry.eventCounts(kioskId);
        }
        const events = await registry.events(kioskId, 0, produced + 10);
        const order = events.map((event) =>
          Number((event.body as { pickupId: string }).pickupId.slice('outage-'.length)),
        );
        console.log(
          `outage (MQTT v${protocolVersion}, ${OUTAGE_SECONDS} s): produced ${produced}, queued during the outage ${depthDuringOutage}, received ${counts.received}, duplicates removed ${counts.duplicates}, lost ${produced - counts.received}`,
        );
        expect(order).toEqual(Array.from({ length: produced }, (_, n) => n));
        expect(counts.outOfOrder).toBe(0);
      } finally {
        producing = false;
        await producer;
        await runtime.stop();
        await registry.stop();
      }
    },
  );
});

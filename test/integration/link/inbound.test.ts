import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signCommand } from '../../../src/fleet/index.js';
import { RequestTimeout } from '../../../src/link/link.js';
import { envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { brokers } from '../../helpers/brokers.js';
import { quietLogger } from '../../helpers/logs.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe.each(brokers)('kiosk link over $name', (broker) => {
  let running: Awaited<ReturnType<typeof broker.start>>;
  let runtime: KioskRuntime;
  let registry: ReferenceRegistry;
  let ops: mqtt.MqttClient;
  const kioskId = `inbound-${broker.protocolVersion}-${process.pid}`;
  const opsKeys = generateOpsKeyPair();

  beforeAll(async () => {
    running = await broker.start();
    const dir = mkdtempSync(join(tmpdir(), 'inbound-'));
    registry = new ReferenceRegistry({
      brokerUrl: running.url,
      databaseFile: join(dir, 'registry.sqlite'),
      log: quietLogger(),
    });
    await registry.start();
    runtime = createKioskRuntime(
      parseConfig(
        {
          kiosk: { id: kioskId },
          mqtt: {
            url: running.url,
            protocolVersion: broker.protocolVersion,
            reconnect: { minMs: 100, maxMs: 1000 },
          },
          dataDir: join(dir, 'kiosk'),
          ui: { port: 0 },
          fleet: { opsPublicKeys: [opsKeys.publicKey] },
        },
        'test',
      ),
      quietLogger(),
    );
    await runtime.start();
    await until(() => runtime.link.connected, 10_000);
    ops = await mqtt.connectAsync(running.url, { protocolVersion: 4 });
  });
  afterAll(async () => {
    await ops?.endAsync();
    await runtime?.stop();
    await registry?.stop();
    await running?.stop();
  });

  it('reports its queue depth in the retained status as the outbox fills and drains', async () => {
    const watcher = await watchTopic(running.url, topics.status(kioskId));
    try {
      await runtime.store.enqueue({ type: 'pickup.completed', body: { pickupId: 'depth-1', slot: 1 } });
      const mark = watcher.received.length;
      const status = await watcher.waitFor(
        (message) => {
          const body = (JSON.parse(message.payload) as { body: { queueDepth?: number } }).body;
          return !message.retain && body.queueDepth === 0; // a live publish after the drain
        },
        15_000,
        mark,
      );
      expect(JSON.parse(status.payload)).toMatchObject({ type: 'kiosk.status', body: { online: true } });
    } finally {
      await watcher.close();
    }
  });

  it('answers a request through the registry, correlated by correlationId', async () => {
    const answer = await runtime.link.request('ping', 'registry.ping', {}, 'registry.pong', 5000);
    expect(answer.type).toBe('registry.pong');
    expect(Date.parse(answer.body.at)).not.toBeNaN();
  });

  it('rejects a request nobody answers with RequestTimeout', async () => {
    const error = await runtime.link
      .request('nobody-home', 'registry.ping', {}, 'registry.pong', 400)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RequestTimeout);
  });

  it('applies a redelivered command once and acknowledges both deliveries', async () => {
    const before = { ...runtime.link.inbound.counts };
    const command = signCommand({
      kioskId,
      name: 'collect-diagnostics',
      key: privateKeyFromPem(opsKeys.privateKeyPem),
    });
    await ops.publishAsync(topics.cmd(kioskId), JSON.stringify(command), { qos: 1 });
    await ops.publishAsync(topics.cmd(kioskId), JSON.stringify(command), { qos: 1 });
    await until(() => runtime.link.inbound.counts.duplicate > before.duplicate, 5000);
    expect(runtime.link.inbound.counts.applied - before.applied).toBe(1);
    expect(runtime.link.inbound.counts.duplicate - before.duplicate).toBe(1);
    const rows = await runtime.store
      .read()
      .all('SELECT message_id FROM inbox WHERE message_id = ?', [command.id]);
    expect(rows).toHaveLength(1);
  });

  it('survives 10,000 random or mutated payloads on every inbound topic and keeps delivering events', async () => {
    const valid = JSON.stringify(
      envelope('manifest.entry', 'registry', { pickupId: 'p-1', action: 'stage' }),
    );
    const mutated = fc
      .tuple(fc.nat({ max: valid.length - 1 }), fc.nat({ max: 40 }), fc.string({ maxLength: 20 }))
      .map(([at, cut, insert]) => valid.slice(0, at) + insert + valid.slice(at + cut));
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc.string({ maxLength: 300 }),
      fc.json({ maxDepth: 4 }),
      mutated,
      fc.anything().map((body) => JSON.stringify({ ...JSON.parse(valid), body })),
      fc
        .record({
          id: fc.string(),
          type: fc.string(),
          ts: fc.string(),
          from: fc.string(),
          body: fc.anything(),
        })
        .map((value) => JSON.stringify(value)),
    );
    const samples = fc.sample(payload, { numRuns: 10_000, seed: 20261123 });
    const eventsBefore = (await registry.eventCounts(kioskId)).received;
    let produced = 0;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        await runtime.store.enqueue({
          type: 'pickup.completed',
          body: { pickupId: `fuzz-${produced++}`, slot: 1 },
        });
        await sleep(10);
      }
    })();
    const inboundBefore = Object.values(runtime.link.inbound.counts).reduce((a, b) => a + b, 0);
    const inboxRows = async () =>
      (await runtime.store.read().get<{ n: number }>('SELECT COUNT(*) AS n FROM inbox'))?.n ?? -1;
    const inboxBefore = await inboxRows();
    for (const topic of [topics.manifest(kioskId), topics.cmd(kioskId), topics.responses(kioskId)]) {
      for (let start = 0; start < samples.length; start += 500) {
        await Promise.all(
          samples.slice(start, start + 500).map((sample) => ops.publishAsync(topic, sample, { qos: 1 })),
        );
      }
    }
    // Every manifest and command payload was handled (the `res` ones are dropped without counting).
    await until(
      () =>
        Object.values(runtime.link.inbound.counts).reduce((a, b) => a + b, 0) - inboundBefore >=
        2 * samples.length,
      60_000,
    );
    producing = false;
    await producer;
    await until(
      async () => (await registry.eventCounts(kioskId)).received - eventsBefore >= produced,
      30_000,
    );
    expect(runtime.link.connected).toBe(true);
    expect(runtime.link.inbound.counts.rejected).toBeGreaterThan(samples.length);
    // none of them was signed: none left a row (issue 12: unverified messages leave no rows)
    expect(await inboxRows()).toBe(inboxBefore);
    expect(runtime.health().store?.state).toBe('up');
    expect(produced).toBeGreaterThan(0);
  });
});

/**
 * Issue 13, telemetry: the kiosk runtime publishes `kiosk.telemetry` on `kiosk/{id}/telemetry`
 * (QoS 0) every `mqtt.telemetryIntervalMs` and soon after a change. Read on a real Mosquitto and
 * validated against the message schema that docs/mqtt-api.yaml is generated from.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signCommand } from '../../../src/fleet/index.js';
import { CHANNELS } from '../../../src/link/asyncapi.js';
import { decodeMessage, type Envelope, type TelemetryBody } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { type Received, watchTopic } from '../../helpers/mqtt-watch.js';

describe('telemetry (Mosquitto)', () => {
  let broker: MosquittoInstance;
  let runtime: KioskRuntime;
  let telemetry: Awaited<ReturnType<typeof watchTopic>>;
  const kioskId = `telemetry-${process.pid}`;
  const opsKeys = generateOpsKeyPair();

  const decoded = (received: Received): Envelope<TelemetryBody> =>
    decodeMessage(Buffer.from(received.payload), 'kiosk.telemetry');

  beforeAll(async () => {
    broker = await startMosquitto();
    telemetry = await watchTopic(broker.url, topics.telemetry(kioskId));
    runtime = createKioskRuntime(
      parseConfig(
        {
          kiosk: { id: kioskId },
          mqtt: { url: broker.url, protocolVersion: 5, telemetryIntervalMs: 1000 },
          dataDir: join(mkdtempSync(join(tmpdir(), 'telemetry-')), 'kiosk'),
          ui: { port: 0 },
          fleet: { opsPublicKeys: [opsKeys.publicKey] },
        },
        'test',
      ),
      quietLogger(),
    );
    await runtime.start();
  });
  afterAll(async () => {
    await runtime?.stop();
    await telemetry?.close();
    await broker?.stop();
  });

  it('is documented as QoS 0, not retained, on kiosk/{id}/telemetry', () => {
    expect(CHANNELS.telemetry).toMatchObject({
      address: 'kiosk/{kioskId}/telemetry',
      qos: 0,
      retain: false,
      messages: ['kiosk.telemetry'],
    });
  });

  it('publishes the schema-valid picture of the kiosk every interval', async () => {
    const received = await telemetry.waitFor(
      (message) => decoded(message).body.trigger === 'interval',
      20_000,
    );
    expect(received.retain).toBe(false);
    // decodeMessage validated envelope and body against the schema; now what it says
    const message = decoded(received);
    expect(message.from).toBe(kioskId);
    const body = message.body;
    expect(body.parts.store?.state).toBe('up');
    expect(body.parts.link?.state).toBe('up');
    expect(Object.keys(body.parts)).toEqual(expect.arrayContaining(['devices', 'fleet', 'sessions']));
    expect(body.queue.depth).toBeGreaterThanOrEqual(0);
    expect(body.versions.config).toEqual(runtime.fleet.configVersions);
    expect(body.versions.software).toMatch(/\d/);
    expect(body.service).toEqual({ inService: true, locked: false, reasons: [] });
    expect(body.inventory).toEqual({});
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(Array.isArray(body.faults)).toBe(true);
  });

  it('reports a lock soon after it happens, with why the kiosk is out of service', async () => {
    const ops = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    try {
      const from = telemetry.received.length;
      const command = signCommand({ kioskId, name: 'lock', key: privateKeyFromPem(opsKeys.privateKeyPem) });
      await ops.publishAsync(topics.cmd(kioskId), JSON.stringify(command), { qos: 1 });
      const received = await telemetry.waitFor(
        (message) => decoded(message).body.service.locked,
        20_000,
        from,
      );
      expect(decoded(received).body.service).toEqual({
        inService: false,
        locked: true,
        reasons: ['locked by operations'],
      });
    } finally {
      await ops.endAsync();
    }
  });
});

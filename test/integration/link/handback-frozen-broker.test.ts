/**
 * A command whose handler fails is handed back for redelivery (link.ts handBack): the kiosk ends
 * its connection and reconnects. mqtt.js sends that DISCONNECT only once every publish in flight
 * is acknowledged, with its keepalive paused meanwhile; a broker that answers nothing (frozen
 * here with SIGSTOP, as a network that drops packets without a reset would be) left the link
 * "up" and silent for as long as the broker stayed so. Real Mosquitto, the kiosk runtime on a
 * real SQLite file.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signCommand } from '../../../src/fleet/index.js';
import type { Envelope, MessageBody } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('a command handed back while the broker answers nothing', () => {
  let broker: MosquittoInstance;
  let runtime: KioskRuntime;
  const kioskId = `frozen-broker-${process.pid}`;
  const opsKeys = generateOpsKeyPair();

  beforeAll(async () => {
    broker = await startMosquitto();
    const config = parseConfig(
      {
        kiosk: { id: kioskId },
        mqtt: { url: broker.url, keepaliveSeconds: 5, reconnect: { minMs: 100, maxMs: 1000 } },
        dataDir: join(mkdtempSync(join(tmpdir(), 'frozen-broker-')), 'kiosk'),
        ui: { port: 0 },
        fleet: { opsPublicKeys: [opsKeys.publicKey] },
      },
      'test',
    );
    runtime = createKioskRuntime(config, quietLogger());
    await runtime.start();
    await until(() => runtime.link.connected, 'kiosk connected');
  });
  afterAll(async () => {
    broker?.thaw();
    await runtime?.stop();
    await broker?.stop();
  });

  it('drops the connection past a keepalive period, and the command is applied once the broker answers', async () => {
    const results = await watchTopic(broker.url, topics.cmdResult(kioskId));
    const states: string[] = [];
    runtime.bus.on('test:frozen', 'link.state', ({ state }) => {
      states.push(state);
    });
    const fleet = runtime.fleet as unknown as { onCommand(...args: unknown[]): Promise<void> };
    const onCommand = fleet.onCommand.bind(fleet);
    let first = true;
    const handler = vi.spyOn(fleet, 'onCommand').mockImplementation(async (...args: unknown[]) => {
      if (!first) return onCommand(...args);
      first = false;
      // the broker freezes with a publish of the kiosk's in flight, and then the handler fails
      broker.freeze();
      void runtime.link.publishStatus();
      throw new Error('injected handler failure');
    });
    try {
      const { default: mqtt } = await import('mqtt');
      const ops = await mqtt.connectAsync(broker.url);
      const command = signCommand({ kioskId, name: 'lock', key: privateKeyFromPem(opsKeys.privateKeyPem) });
      await ops.publishAsync(topics.cmd(kioskId), JSON.stringify(command), { qos: 1 });
      await ops.endAsync(true);

      // while the broker is still frozen, the kiosk gives up the connection and says so
      await until(() => !first, 'the command tried');
      await until(() => !runtime.link.connected && states.includes('degraded'), 'the link reported down');
      broker.thaw();

      const answer = await results.waitFor(() => true, 30_000);
      expect((JSON.parse(answer.payload) as Envelope<MessageBody<'command.result'>>).body).toMatchObject({
        name: 'lock',
        status: 'ok',
      });
      expect(runtime.fleet.isLocked).toBe(true);
      expect(handler).toHaveBeenCalledTimes(2);
      await until(() => runtime.link.connected, 'link up again');
    } finally {
      handler.mockRestore();
      runtime.bus.off('test:frozen');
      broker.thaw();
      await results.close();
    }
  });
});

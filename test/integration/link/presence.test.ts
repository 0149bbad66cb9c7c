import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers } from '../../helpers/brokers.js';
import { statusOf, watchTopic } from '../../helpers/mqtt-watch.js';
import { spawnKiosk } from '../../helpers/processes.js';

describe.each(brokers)('kiosk presence over $name', (broker) => {
  let running: Awaited<ReturnType<typeof broker.start>>;
  beforeAll(async () => {
    running = await broker.start();
  });
  afterAll(async () => {
    await running.stop();
  });

  it('publishes a retained online status, and the broker delivers the last will after SIGKILL', async () => {
    const kioskId = `presence-${broker.protocolVersion}-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), 'presence-'));
    const configFile = join(dir, 'kiosk.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        kiosk: { id: kioskId },
        mqtt: { url: running.url, protocolVersion: broker.protocolVersion, keepaliveSeconds: 5 },
        dataDir: join(dir, 'data'),
        ui: { port: 0 },
        log: { level: 'info' },
      }),
    );
    const watcher = await watchTopic(running.url, `cccd/v1/kiosk/${kioskId}/status`);
    const kiosk = spawnKiosk(['start', '--config', configFile]);
    try {
      const online = await watcher.waitFor((message) => statusOf(message).online);
      expect(online.topic).toBe(`cccd/v1/kiosk/${kioskId}/status`);

      // A late subscriber gets the retained status without waiting for a republish.
      const late = await watchTopic(running.url, `cccd/v1/kiosk/${kioskId}/status`);
      const retained = await late.waitFor((message) => message.retain);
      expect(statusOf(retained).online).toBe(true);
      await late.close();

      const mark = watcher.received.length;
      kiosk.child.kill('SIGKILL');
      const offline = await watcher.waitFor((message) => !statusOf(message).online, 10_000, mark);
      expect(statusOf(offline)).toEqual({ online: false });
    } finally {
      kiosk.child.kill('SIGKILL');
      await watcher.close();
    }
  });
});

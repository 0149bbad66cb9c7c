import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { makeBrokerPki, selfSigned } from '../../helpers/test-pki.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
describe('link over TLS with a client certificate (Mosquitto)', () => {
  let dir: string;
  let mosquitto: MosquittoInstance;
  const runtimes: KioskRuntime[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tls-'));
    makeBrokerPki(dir, 'tls-0001');
    mosquitto = await startMosquitto([
      `cafile ${join(dir, 'ca.pem')}`,
      `certfile ${join(dir, 'server.pem')}`,
      `keyfile ${join(dir, 'server.key')}`,
      'require_certificate true',
      'use_identity_as_username true',
    ]);
  });
  afterAll(async () => {
    await Promise.all(runtimes.map((runtime) => runtime.stop()));
    await mosquitto?.stop();
  });

  function runtimeWith(tls: { ca: string; cert: string; key: string }, kioskId: string): KioskRuntime {
    const runtime = createKioskRuntime(
      parseConfig(
        {
          kiosk: { id: kioskId },
          mqtt: {
            url: `mqtts://127.0.0.1:${mosquitto.port}`,
            protocolVersion: 5,
            tls,
            reconnect: { minMs: 200, maxMs: 1000 },
          },
          dataDir: join(dir, kioskId),
          ui: { port: 0 },
        },
        'test',
      ),
      quietLogger(),
    );
    runtimes.push(runtime);
    return runtime;
  }

  it('connects with its client certificate and drains its outbox', async () => {
    const runtime = runtimeWith(
      { ca: join(dir, 'ca.pem'), cert: join(dir, 'kiosk.pem'), key: join(dir, 'kiosk.key') },
      'tls-0001',
    );
    await runtime.start();
    await runtime.store.enqueue({ type: 'pickup.completed', body: { pickupId: 'tls-1', slot: 1 } });
    const deadline = Date.now() + 15_000;
    while ((runtime.store.queueDepth > 0 || !runtime.link.connected) && Date.now() < deadline)
      await sleep(50);
    expect(runtime.link.connected).toBe(true);
    expect(runtime.store.queueDepth).toBe(0);
  });

  it('is refused by a broker that does not trust its certificate', async () => {
    // A self-signed certificate, not issued by the broker's CA, is refused at the TLS handshake.
    selfSigned(dir, 'rogue', '/CN=rogue');
    chmodSync(join(dir, 'rogue.key'), 0o644);
    const runtime = runtimeWith(
      { ca: join(dir, 'ca.pem'), cert: join(dir, 'rogue.pem'), key: join(dir, 'rogue.key') },
      'tls-0002',
    );
    await runtime.start();
    await runtime.store.enqueue({ type: 'pickup.completed', body: { pickupId: 'tls-2', slot: 2 } });
    await sleep(2000);
    expect(runtime.link.connected).toBe(false);
    expect(runtime.store.queueDepth).toBe(1);
  });
});

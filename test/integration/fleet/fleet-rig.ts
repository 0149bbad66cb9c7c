import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parseConfig } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem } from '../../../src/fleet/index.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import type { KioskConfigInput } from '../../../src/config/schema.js';
import { createPtyPair, type PtyPair, ScannerEmulator } from '../../../devices/index.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * A kiosk runtime with a pinned operations key and a scanner on a pty (so the kiosk's health is
 * real), on its own Mosquitto: retained fleet configs must not reach other test files' kiosks.
 */
export async function startFleetRig(kioskId: string, extra: Partial<KioskConfigInput> = {}) {
  const broker: MosquittoInstance = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'fleet-'));
  const ops = generateOpsKeyPair();
  const stranger = generateOpsKeyPair();
  const scannerDevice = join(dir, 'dev', 'scanner');
  const scannerEmulatorPath = join(dir, 'dev', 'scanner.emu');
  let pty: PtyPair = await createPtyPair(scannerDevice, scannerEmulatorPath);
  const emulator = new ScannerEmulator({ path: scannerEmulatorPath });
  await emulator.start();
  const config = parseConfig(
    {
      kiosk: { id: kioskId },
      mqtt: { url: broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
      dataDir: join(dir, 'kiosk'),
      ui: { port: 0 },
      devices: { scanner: { path: scannerDevice, baudRate: 9600 } },
      // probation: a part down reverts at once, the broker may be away (outage tests) for a minute
      fleet: {
        opsPublicKeys: [ops.publicKey],
        rollbackAfterMs: 1500,
        probation: { partDownMs: 0, brokerUnreachableMs: 60_000 },
      },
      ...extra,
    },
    'test',
  );
  const make = () => createKioskRuntime(config, quietLogger());
  let runtime: KioskRuntime = make();
  await runtime.start();
  await until(() => runtime.link.connected && runtime.devices.summary().scanner === 'ok');
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  const events = await watchTopic(broker.url, `cccd/v1/kiosk/${kioskId}/events`);
  const results = await watchTopic(broker.url, `cccd/v1/kiosk/${kioskId}/cmd/result`);
  return {
    broker,
    config,
    get runtime() {
      return runtime;
    },
    opsKey: privateKeyFromPem(ops.privateKeyPem),
    strangerKey: privateKeyFromPem(stranger.privateKeyPem),
    client,
    events,
    results,
    async unplugScanner() {
      await emulator.stop();
      await pty.close();
    },
    async replugScanner() {
      pty = await createPtyPair(scannerDevice, scannerEmulatorPath);
      await emulator.start();
    },
    /** stops and starts the runtime on the same data directory (a restart of the kiosk) */
    async restart() {
      await runtime.stop();
      runtime = make();
      await runtime.start();
      await until(() => runtime.link.connected);
    },
    async stop() {
      await events.close();
      await results.close();
      await client.endAsync();
      await runtime.stop();
      await emulator.stop();
      await pty.close();
      await broker.stop();
    },
  };
}

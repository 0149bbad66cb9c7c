import { type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeBrokerPki } from '../../helpers/test-pki.js';
import { spawnRig } from '../../../src/demo/demo.js';
import type { DemoRigReady } from '../../../src/demo/rig.js';
import { DEMO_CITIZENS } from '../../../src/demo/citizens.js';
import type { SessionView } from '../../../src/kiosk/view.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { type Spawned, spawnKiosk } from '../../helpers/processes.js';

/**
 * Issue 11 "What it must show" 2: the shipped deploy/kiosk.example.json runs a kiosk. Only device
 * paths (and the chip station's PC/SC reader name and pcscd socket), URLs (broker; the UI's port)
 * and directories/files (data, TLS, trust list, the file of the registry's two pinned public keys,
 * which a real kiosk gets from provisioning) are overridden, through KIOSK_* variables. Against:
 * Mosquitto with TLS and client certificates speaking MQTT 5 as the example asks, the reference
 * registry and the emulators of the demo rig, started as its own process as `kiosk demo` does.
 * The technician's steps are the real ones: first start, `kiosk vault load`, start again; then a
 * citizen's pickup through the touchscreen's WebSocket and the rig's hands (finger, take).
 */
const KIOSK_ID = 'hn-0001'; // the example's kiosk id, untouched
const CITIZEN = DEMO_CITIZENS[0]!;
const EXAMPLE = 'deploy/kiosk.example.json';

let dir: string;
let mosquitto: MosquittoInstance;
let rig: { child: ChildProcess; ready: DemoRigReady };
let env: NodeJS.ProcessEnv;
const running: Spawned[] = [];

function rigSays(line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(join(dir, 'rig', 'rig.sock'), () => socket.write(`${line}\n`));
    socket.setEncoding('utf8');
    socket.once('data', (answer: string) => {
      socket.end();
      resolve(answer.trim());
    });
    socket.once('error', reject);
  });
}

async function startKiosk(): Promise<{ kiosk: Spawned; uiUrl: string }> {
  const kiosk = spawnKiosk(['start', '--config', EXAMPLE], env);
  running.push(kiosk);
  const [, uiUrl = ''] = await kiosk.waitFor(
    /"ui":"(http:\/\/127\.0\.0\.1:\d+)".*kiosk runtime ready/,
    60_000,
  );
  return { kiosk, uiUrl };
}

async function stopKiosk(kiosk: Spawned): Promise<void> {
  kiosk.child.kill('SIGTERM');
  expect((await kiosk.exited).code).toBe(0);
}

async function vault(...args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnKiosk(['vault', ...args, '--config', EXAMPLE, '--json'], env);
  const { code } = await run.exited;
  return { code, output: run.output() };
}

/** The touchscreen's WebSocket, as the page opens it (same origin). */
async function touchscreen(uiUrl: string) {
  const socket = new WebSocket(`${uiUrl.replace('http', 'ws')}/ws`, { origin: uiUrl });
  const views: SessionView[] = [];
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string; view: SessionView };
    if (message.type === 'view') views.push(message.view);
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const screen = async (expected: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (views.at(-1)?.screen !== expected) {
      if (Date.now() > deadline)
        throw new Error(`screen ${expected} not shown (now ${views.at(-1)?.screen ?? 'none'})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return {
    views,
    screen,
    send: (input: object) => socket.send(JSON.stringify(input)),
    close: () => socket.close(),
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'example-config-'));
  chmodSync(dir, 0o755); // Mosquitto (as the mosquitto user) reads the TLS files below it
  const pkiDir = join(dir, 'tls');
  execFileSync('mkdir', ['-p', pkiDir]);
  makeBrokerPki(pkiDir, KIOSK_ID);
  const tlsPort = await freePort();
  // plain loopback listener for the registry; the kiosk's listener: TLS with client certificates
  mosquitto = await startMosquitto([
    `listener ${tlsPort} 127.0.0.1`,
    `cafile ${join(pkiDir, 'ca.pem')}`,
    `certfile ${join(pkiDir, 'server.pem')}`,
    `keyfile ${join(pkiDir, 'server.key')}`,
    'require_certificate true',
    'use_identity_as_username true',
  ]);
  rig = await spawnRig({
    dataDir: join(dir, 'rig'),
    brokerPort: 0,
    brokerUrl: mosquitto.url,
    kioskId: KIOSK_ID,
    logLevel: 'warn',
  });
  const { devices, trustList, registryKeys } = rig.ready;
  if (!registryKeys) throw new Error('the rig started no registry: no keys to pin');
  const registryKeysFile = join(dir, 'registry-keys.json');
  writeFileSync(registryKeysFile, JSON.stringify(registryKeys), { mode: 0o600 });
  env = {
    KIOSK_MQTT_URL: `mqtts://127.0.0.1:${tlsPort}`,
    KIOSK_MQTT_TLS_CA: join(pkiDir, 'ca.pem'),
    KIOSK_MQTT_TLS_CERT: join(pkiDir, 'kiosk.pem'),
    KIOSK_MQTT_TLS_KEY: join(pkiDir, 'kiosk.key'),
    KIOSK_DATA_DIR: join(dir, 'kiosk'),
    KIOSK_UI_PORT: '0', // the UI's URL: a free port instead of 8080
    KIOSK_DEVICES_SCANNER_PATH: devices.scanner,
    KIOSK_DEVICES_FINGERPRINT_PATH: devices.fingerprint,
    KIOSK_DEVICES_PRINTER_PATH: devices.printer,
    KIOSK_DEVICES_DISPENSER_PATH: devices.dispenser,
    KIOSK_DEVICES_CARD_READER_READER: devices.cardReader,
    KIOSK_DEVICES_CARD_READER_PCSCD_SOCKET: devices.pcscdSocket,
    KIOSK_SESSIONS_TRUST_LIST: trustList ?? '',
    // what provisioning pins: the registry's keys (manifest signatures, HPKE-sealed pickup secrets)
    KIOSK_FLEET_REGISTRY_KEYS_FILE: registryKeysFile,
    KIOSK_LOG_LEVEL: 'info',
  };
}, 120_000);

afterAll(async () => {
  for (const kiosk of running) if (kiosk.child.exitCode === null) kiosk.child.kill('SIGKILL');
  if (rig) {
    const exited = new Promise((resolve) => rig.child.once('exit', resolve));
    rig.child.send({ type: 'stop' });
    await exited;
  }
  await mosquitto?.stop();
});

describe('deploy/kiosk.example.json', () => {
  it('reaches in-service and completes a pickup with only paths, URLs and directories overridden', async () => {
    // 1. First start: the kiosk publishes its sealing key; the registry stages its pickups.
    const first = await startKiosk();
    const deadline = Date.now() + 60_000;
    let staged = 0;
    while (staged < DEMO_CITIZENS.length && Date.now() < deadline) {
      const status = await vault('status');
      staged =
        (JSON.parse(status.output.trim().split('\n').at(-1) ?? '{}') as { awaitingLoad?: number })
          .awaitingLoad ?? 0;
    }
    expect(staged).toBe(DEMO_CITIZENS.length);
    await stopKiosk(first.kiosk);

    // 2. The technician loads the vault: each card identified by reading its chip over PC/SC.
    const load = await vault('load', '--slots', '0,1,2');
    expect(load.code, load.output).toBe(0);
    expect(JSON.parse(load.output.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ unmatched: [] });

    // 3. Started again: in service, and a citizen picks up the card at the touchscreen.
    const { kiosk, uiUrl } = await startKiosk();
    type Healthz = { status: string; parts: Record<string, { state: string; detail?: string }> };
    const health = async () => (await (await fetch(`${uiUrl}/healthz`)).json()) as Healthz;
    const page = await touchscreen(uiUrl);
    await page.screen('attract', 60_000);
    // The attract screen comes as soon as citizens can start; a part (the link's first connect,
    // the devices' first probe) may still be coming up then. In service means every part up.
    let seen = await health();
    for (let deadline = Date.now() + 60_000; seen.status !== 'up' && Date.now() < deadline;) {
      await new Promise((done) => setTimeout(done, 250));
      seen = await health();
    }
    expect(seen.status, JSON.stringify(seen.parts)).toBe('up');
    expect(await rigSays(`finger ${CITIZEN.record.idNumber}`)).toBe('ok');
    page.send({ type: 'start', flow: 'pickup' });
    page.send({ type: 'enter-id', idNumber: CITIZEN.record.idNumber });
    await page.screen('take-card');
    expect(await rigSays('take')).toBe('ok');
    await page.screen('receipt');
    page.close();
    await stopKiosk(kiosk);
    const after = await vault('status');
    expect(JSON.parse(after.output.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      inventory: { dispensed: 1, 'in-slot': 2 },
    });
    // Longer than the sum of the steps' own waits, so a stuck step fails with its own message and
    // the kiosk's output (a bare "Test timed out" hid the unreadable ready line after a merge).
  }, 300_000);
});

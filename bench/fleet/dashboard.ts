/**
 * `npm run bench:dashboard` (issue 13, item 5): the operations dashboard's first paint with a large
 * fleet. A real Mosquitto holds the retained `kiosk.status` of BENCH_DASHBOARD_KIOSKS kiosks
 * (default 10,000); each has also sent a `kiosk.telemetry`, and telemetry keeps arriving at the
 * rate of a fleet on the default 60 s interval while the page loads. `kiosk-ops serve` runs as an
 * operator runs it (the CLI, a child process); headless Chromium, logged in, opens the page.
 *
 * First paint = the page's own `performance.now()` when the first fleet rows, with their data,
 * are in the DOM (`body[data-first-rows]`, set by src/ops/dashboard/public/app.js): navigation,
 * the page's scripts, the SSE snapshot of every kiosk, parsing it, and the first virtualised
 * render. The baseline is the same measurement, in this run, on a fleet of BASELINE_KIOSKS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium } from 'playwright-core';
import { generateOpsKeyPair } from '../../src/fleet/index.js';
import { envelope, type StatusBody, type TelemetryBody } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { hashPassword } from '../../src/ops/dashboard/index.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { spawnScript } from '../../test/helpers/processes.js';

const KIOSKS = Number(process.env.BENCH_DASHBOARD_KIOSKS ?? 10_000);
const BASELINE_KIOSKS = 10;
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 5);
const TARGET_MS = 2000;
/** a fleet on the default 60 s telemetry interval sends this many messages a second */
const TELEMETRY_PER_SECOND = Math.ceil(KIOSKS / 60);
const OPS_CLI = fileURLToPath(new URL('../../src/cli/kiosk-ops.ts', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const OPERATOR = { name: 'bench', password: 'bench operator password' };
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const kioskId = (index: number) => `bench-${String(index).padStart(5, '0')}`;

function status(index: number): StatusBody {
  return {
    online: index % 50 !== 0,
    version: index % 7 === 0 ? '0.1.1' : '0.1.0',
    startedAt: new Date(Date.now() - 3600_000).toISOString(),
    devices: {
      scanner: 'ok',
      fingerprint: 'ok',
      printer: index % 97 === 0 ? 'missing' : 'ok',
      dispenser: 'ok',
    },
    queueDepth: index % 13,
    configVersions: { fleet: 3, kiosk: index % 5 },
    locked: index % 211 === 0,
    ...(index % 211 === 0 ? { outOfService: 'locked by operations' } : {}),
  };
}

function telemetry(index: number): TelemetryBody {
  const printerDown = index % 97 === 0;
  return {
    trigger: 'interval',
    uptimeSeconds: 3600 + index,
    parts: {
      store: { state: 'up' },
      link: { state: 'up' },
      devices: { state: printerDown ? 'degraded' : 'up' },
      'devices.printer': printerDown ? { state: 'down', detail: 'no answer on its port' } : { state: 'up' },
    },
    queue: { depth: index % 13, oldestAgeSeconds: index % 13 ? 30 : null },
    inventory: { 'in-slot': 20 - (index % 20), dispensed: index % 20 },
    versions: { software: index % 7 === 0 ? '0.1.1' : '0.1.0', config: { fleet: 3, kiosk: index % 5 } },
    service: {
      inService: index % 211 !== 0,
      locked: index % 211 === 0,
      reasons: index % 211 === 0 ? ['locked by operations'] : [],
    },
    faults: printerDown ? [{ code: 'device.printer.missing', at: new Date().toISOString() }] : [],
  };
}

/** Publishes for kiosks [0, count) over `clients` connections, QoS 1, waiting for every PUBACK. */
async function publishAll(
  clients: MqttClient[],
  count: number,
  message: (index: number) => { topic: string; payload: string; retain: boolean; qos: 0 | 1 },
): Promise<void> {
  await Promise.all(
    clients.map(async (client, lane) => {
      for (let index = lane; index < count; index += clients.length) {
        const { topic, payload, retain, qos } = message(index);
        await client.publishAsync(topic, payload, { qos, retain });
      }
    }),
  );
}

interface Fleet {
  serveUrl: string;
  stop(): Promise<void>;
}

/** Mosquitto with `count` kiosks' retained statuses and one telemetry each, and `kiosk-ops serve` on it. */
async function fleetWithDashboard(count: number): Promise<Fleet> {
  const broker = await startMosquitto(['max_inflight_messages 0', 'set_tcp_nodelay true']);
  const dir = mkdtempSync(join(tmpdir(), 'bench-dashboard-'));
  const pair = generateOpsKeyPair();
  writeFileSync(join(dir, 'ops.key'), pair.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'operators'), `${hashPassword(OPERATOR.name, OPERATOR.password)}\n`, {
    mode: 0o600,
  });
  const clients = await Promise.all(
    Array.from({ length: 4 }, (_, lane) =>
      mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `bench-pub-${lane}` }),
    ),
  );
  await publishAll(clients, count, (index) => ({
    topic: topics.status(kioskId(index)),
    payload: JSON.stringify(envelope('kiosk.status', kioskId(index), status(index))),
    retain: true,
    qos: 1,
  }));
  const serve = spawnScript(OPS_CLI, [
    'serve',
    '--url',
    broker.url,
    '--key',
    join(dir, 'ops.key'),
    '--passwords',
    join(dir, 'operators'),
    '--port',
    '0',
    '--ops-dir',
    dir,
    '--log-level',
    'warn',
  ]);
  const [, serveUrl = ''] = await serve.waitFor(/dashboard at (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  // the dashboard has read every retained status before the page is opened
  for (let kiosks = 0; kiosks < count; await sleep(100)) {
    const health = (await (await fetch(`${serveUrl}/healthz`)).json()) as { kiosks: number };
    kiosks = health.kiosks;
  }
  // one telemetry round (it is not retained), then the steady rate while the page loads
  const telemetryMessage = (index: number) => ({
    topic: topics.telemetry(kioskId(index % count)),
    payload: JSON.stringify(envelope('kiosk.telemetry', kioskId(index % count), telemetry(index % count))),
    retain: false,
    qos: 0 as const,
  });
  await publishAll(clients, count, telemetryMessage);
  let next = 0;
  const steady = setInterval(() => {
    const batch = Math.ceil(TELEMETRY_PER_SECOND / 10);
    for (let sent = 0; sent < batch; sent++) {
      const { topic, payload } = telemetryMessage(next++);
      void clients[next % clients.length]?.publishAsync(topic, payload, { qos: 0 }).catch(() => undefined);
    }
  }, 100);
  await sleep(500);
  return {
    serveUrl,
    stop: async () => {
      clearInterval(steady);
      serve.child.kill('SIGTERM');
      await serve.exited;
      await Promise.all(clients.map((client) => client.endAsync()));
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The median of RUNS first paints, each in a fresh page of a logged-in browser context. */
async function firstPaints(serveUrl: string, expectedKiosks: number): Promise<number[]> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
    const login = await context.request.post(`${serveUrl}/api/login`, {
      data: OPERATOR,
      headers: { origin: serveUrl },
    });
    if (!login.ok()) throw new Error(`login failed: ${login.status()}`);
    const paints: number[] = [];
    // one warm-up load (Chromium's own start-up and first compile are not the dashboard's)
    for (let run = 0; run <= RUNS; run++) {
      const page = await context.newPage();
      await page.goto(serveUrl);
      await page.waitForSelector('body[data-first-rows]', { timeout: 60_000 });
      const paint = Number(await page.getAttribute('body', 'data-first-rows'));
      const shown = Number(await page.getAttribute('body', 'data-kiosks'));
      if (shown !== expectedKiosks) throw new Error(`the page showed ${shown} kiosks, not ${expectedKiosks}`);
      if (run > 0) paints.push(paint);
      await page.close();
    }
    return paints;
  } finally {
    await browser.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function measure(count: number): Promise<number[]> {
  const fleet = await fleetWithDashboard(count);
  try {
    return await firstPaints(fleet.serveUrl, count);
  } finally {
    await fleet.stop();
  }
}

const baseline = await measure(BASELINE_KIOSKS);
const paints = await measure(KIOSKS);
const firstPaint = median(paints);
const baselinePaint = median(baseline);
console.log(`dashboard first paint, ${BASELINE_KIOSKS} kiosks (ms, ${RUNS} runs): ${baseline.join(', ')}`);
console.log(`dashboard first paint, ${KIOSKS} kiosks (ms, ${RUNS} runs): ${paints.join(', ')}`);
console.log(
  `figure: dashboard first paint with ${BASELINE_KIOSKS} kiosks (baseline): ${Math.round(baselinePaint)} ms`,
);
console.log(
  `figure: dashboard first paint with ${KIOSKS} kiosks: ${Math.round(firstPaint)} ms (target: ≤ ${TARGET_MS} ms)`,
);
console.log(
  `figure: dashboard first paint, ${KIOSKS} against ${BASELINE_KIOSKS} kiosks: ${(firstPaint / baselinePaint).toFixed(2)}× (baseline measured in this run)`,
);

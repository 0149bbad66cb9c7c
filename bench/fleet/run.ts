/**
 * `npm run bench:fleet` (issue 7, item 5): N simulated kiosks (default 500) in this process on a real
 * Mosquitto. Each is the real `KioskLink` (same client options, same full-jitter reconnect backoff
 * from src/util/backoff.ts) with a light config handler that does what the kiosk's fleet layer does
 * to a pushed config: decode, verify the Ed25519 signature against the pinned key, check expiry and
 * version, validate with the one config schema, then acknowledge with a `config.result` event.
 *
 * Figures:
 * 1. time from pushing a signed fleet config until every kiosk acknowledged it (target ≤ 5 s), and
 *    its ratio to a baseline measured here: the same fan-out and acknowledgement without any checks;
 * 2. reconnects after a broker restart, per second: the busiest second's share (target ≤ 20 %).
 */
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { parseConfig } from '../../src/config/index.js';
import {
  effectiveConfig,
  generateOpsKeyPair,
  pinKeys,
  privateKeyFromPem,
  signConfig,
  verifyEnvelope,
} from '../../src/fleet/index.js';
import { KioskLink } from '../../src/link/link.js';
import { decodeMessage, envelope } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { EventBus } from '../../src/util/bus.js';
import type { RuntimeEvents } from '../../src/util/events.js';
import { createLogger } from '../../src/util/log.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';

const KIOSKS = Number(process.env.BENCH_KIOSKS ?? 500);
const OUTAGE_MS = Number(process.env.BENCH_OUTAGE_MS ?? 15_000);
const ECHO_TOPIC = 'cccd/v1/bench/echo';
const log = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent', pretty: false });
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

const broker = await startMosquitto([
  'max_connections -1',
  'max_inflight_messages 0',
  'max_queued_messages 0',
  'set_tcp_nodelay true',
]);
const ops = generateOpsKeyPair();
const opsKey = privateKeyFromPem(ops.privateKeyPem);

/** The kiosk's config defaults: the backoff the real link uses unless a config says otherwise. */
const kioskDefaults = parseConfig(
  { kiosk: { id: 'bench-0000' }, mqtt: { url: broker.url }, fleet: { opsPublicKeys: [ops.publicKey] } },
  'bench',
);

interface SimKiosk {
  id: string;
  link: KioskLink;
  bus: EventBus<RuntimeEvents>;
  version: number;
  connectedAt: number[];
}

function simulatedKiosk(index: number): SimKiosk {
  const id = `bench-${String(index).padStart(4, '0')}`;
  const bus = new EventBus<RuntimeEvents>(log);
  const keys = pinKeys(kioskDefaults.fleet.opsPublicKeys);
  const base = { ...kioskDefaults, kiosk: { id } };
  const kiosk: SimKiosk = { id, bus, version: 0, connectedAt: [], link: undefined as unknown as KioskLink };
  const answer = (type: 'config.result', body: Parameters<typeof envelope<'config.result'>>[2]) =>
    // not awaited: mqtt.js holds incoming packets (our PUBACK) until this handler returns
    void kiosk.link.publish(topics.events(id), envelope(type, id, body)).catch(() => undefined);
  kiosk.link = new KioskLink({
    kioskId: id,
    url: broker.url,
    protocolVersion: kioskDefaults.mqtt.protocolVersion,
    keepaliveSeconds: kioskDefaults.mqtt.keepaliveSeconds,
    reconnect: kioskDefaults.mqtt.reconnect,
    log,
    bus,
    describe: () => ({ version: 'bench', devices: {}, queueDepth: 0 }),
    subscriptions: [
      {
        topic: topics.fleetConfig(),
        handle: async (payload) => {
          const message = decodeMessage(payload, 'config.push');
          verifyEnvelope(message, keys);
          const refused = (reason: 'expired' | 'not-newer' | 'invalid') =>
            answer('config.result', {
              version: message.body.version,
              configId: message.id,
              status: 'refused',
              reason,
            });
          if (!message.expiresAt || Date.parse(message.expiresAt) <= Date.now()) return refused('expired');
          if (message.body.version <= kiosk.version) return refused('not-newer');
          effectiveConfig(base, [message.body.settings]);
          kiosk.version = message.body.version;
          answer('config.result', { version: message.body.version, configId: message.id, status: 'applied' });
        },
      },
      {
        // the baseline: the same fan-out and acknowledgement, with no checks at all
        topic: ECHO_TOPIC,
        handle: async (payload) => {
          void kiosk.link.publish(topics.events(id), {
            ...envelope('registry.ping', id, {}),
            id: payload.toString(),
          });
        },
      },
    ],
  });
  bus.on('bench', 'link.state', ({ state }) => {
    if (state === 'up') kiosk.connectedAt.push(performance.now());
  });
  return kiosk;
}

const kiosks = Array.from({ length: KIOSKS }, (_, index) => simulatedKiosk(index));
const began = performance.now();
await Promise.all(kiosks.map((kiosk) => kiosk.link.start()));
await until(() => kiosks.every((kiosk) => kiosk.link.connected), 60_000, 'all kiosks connected');
// the subscriptions go out right after CONNACK: give them a moment to be in place at the broker
await sleep(1000);
process.stdout.write(
  `# ${KIOSKS} simulated kiosks connected in ${((performance.now() - began) / 1000).toFixed(1)} s\n`,
);

const opsClient = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-ops' });
const acks = new Map<string, Set<string>>();
opsClient.on('message', (topic, payload) => {
  const kioskId = topic.split('/')[3] ?? '';
  const parsed = JSON.parse(payload.toString()) as { id: string; type: string; body: { configId?: string } };
  const key = parsed.type === 'config.result' ? (parsed.body.configId ?? '') : parsed.id;
  let set = acks.get(key);
  if (!set) acks.set(key, (set = new Set()));
  set.add(kioskId);
});
await opsClient.subscribeAsync(topics.allEvents(), { qos: 1 });

async function roundTrip(publish: () => Promise<string>): Promise<number> {
  const start = performance.now();
  const key = await publish();
  await until(() => (acks.get(key)?.size ?? 0) >= KIOSKS, 60_000, `acknowledgements of ${key}`);
  return performance.now() - start;
}

const baselines: number[] = [];
const pushes: number[] = [];
for (let round = 1; round <= 3; round++) {
  baselines.push(
    await roundTrip(async () => {
      const key = randomUUID();
      await opsClient.publishAsync(ECHO_TOPIC, key, { qos: 1 });
      return key;
    }),
  );
  pushes.push(
    await roundTrip(async () => {
      const message = signConfig({
        version: round,
        settings: { timeouts: { requestMs: 10_000 + round } },
        key: opsKey,
      });
      await opsClient.publishAsync(topics.fleetConfig(), JSON.stringify(message), { qos: 1, retain: true });
      return message.id;
    }),
  );
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const pushMs = median(pushes);
const baselineMs = median(baselines);
const applied = kiosks.filter((kiosk) => kiosk.version === 3).length;

// ---- broker restart -----------------------------------------------------------------------------
for (const kiosk of kiosks) kiosk.connectedAt.length = 0;
await opsClient.endAsync();
await broker.stop();
await sleep(OUTAGE_MS);
await broker.start();
// a kiosk may get in while start() still polls the port: such reconnects count in second 0
const restartedAt = performance.now();
await until(() => kiosks.every((kiosk) => kiosk.link.connected), 180_000, 'all kiosks reconnected');
const firstReconnects = kiosks.map((kiosk) => (kiosk.connectedAt[0] ?? NaN) - restartedAt);
const perSecond = new Map<number, number>();
for (const ms of firstReconnects) {
  const second = Math.max(0, Math.floor(ms / 1000));
  perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
}
const busiest = Math.max(...perSecond.values());
const allBackMs = Math.max(...firstReconnects);

await Promise.all(kiosks.map((kiosk) => kiosk.link.stop()));
await broker.stop();

const lines = [
  `fleet config pushed, verified, applied and acknowledged by all ${KIOSKS} kiosks: ${(pushMs / 1000).toFixed(2)} s (target: <= 5 s; median of 3, ${applied}/${KIOSKS} at the last version)`,
  `config push time / unchecked fan-out + acknowledgement baseline (${(baselineMs / 1000).toFixed(2)} s): ${(pushMs / baselineMs).toFixed(2)} (target: report only; the price of verifying and validating)`,
  `busiest second of reconnects after a ${OUTAGE_MS / 1000} s broker outage: ${((busiest / KIOSKS) * 100).toFixed(1)} % of the fleet (target: <= 20 %)`,
  `  reconnects per second since the broker came back: ${[...perSecond.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([second, count]) => `${second}s:${count}`)
    .join(' ')}`,
  `  all ${KIOSKS} kiosks back after: ${(allBackMs / 1000).toFixed(1)} s (backoff ${kioskDefaults.mqtt.reconnect.minMs}–${kioskDefaults.mqtt.reconnect.maxMs} ms, full jitter)`,
];
process.stdout.write(
  `${lines.map((line) => (line.startsWith(' ') ? line : `figure: ${line}`)).join('\n')}\n`,
);
process.exit(pushMs <= 5000 && busiest / KIOSKS <= 0.2 ? 0 : 1);

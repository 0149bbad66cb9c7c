/**
 * `npm run bench:outbox`: the outbox's three figures against baselines measured in this run, on a
 * Mosquitto started here on loopback. See issue 3 "What it must show" item 4.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { envelope } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { body, drain, fill, freshDir, KIOSK_ID, openStore } from './common.js';

const ENQUEUE_COUNT = Number(process.env.BENCH_ENQUEUE ?? 2000);
const CONCURRENCY = 64;
const DRAIN_COUNT = 50_000;
const RSS_COUNT = 100_000;

async function concurrently(count: number, task: (n: number) => Promise<unknown>): Promise<number> {
  const began = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await task(next++);
    }),
  );
  return performance.now() - began;
}

/** Baseline 1: single-row INSERT autocommits on a plain sqlite3 connection, same synchronous. */
async function rawInsertRate(): Promise<number> {
  const db = await SqliteDatabase.open(join(freshDir(), 'raw.sqlite'));
  await db.exec(
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE, topic TEXT, type TEXT, body TEXT, created_at INTEGER);',
  );
  const ms = await concurrently(ENQUEUE_COUNT, (n) =>
    db.run('INSERT INTO t (event_id, topic, type, body, created_at) VALUES (?, ?, ?, ?, ?)', [
      `raw-${n}`,
      topics.events(KIOSK_ID),
      'pickup.completed',
      JSON.stringify(body(n)),
      Date.now(),
    ]),
  );
  await db.close();
  return (ENQUEUE_COUNT / ms) * 1000;
}

async function durableEnqueueRate(): Promise<number> {
  const store = await openStore(join(freshDir(), 'kiosk.sqlite'));
  const ms = await concurrently(ENQUEUE_COUNT, (n) =>
    store.enqueue({ type: 'pickup.completed', body: body(n) }),
  );
  await store.stop();
  return (ENQUEUE_COUNT / ms) * 1000;
}

/** Baseline 2: mqtt.js publishing the same envelopes at QoS 1, all at once, until every PUBACK. */
async function rawPublishRate(url: string): Promise<number> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'bench-raw', clean: true });
  const payloads = Array.from({ length: DRAIN_COUNT }, (_, n) =>
    JSON.stringify({ ...envelope('pickup.completed', KIOSK_ID, body(n)), seq: n + 1 }),
  );
  const began = performance.now();
  await Promise.all(
    payloads.map((payload) => client.publishAsync(topics.events(KIOSK_ID), payload, { qos: 1 })),
  );
  const ms = performance.now() - began;
  await client.endAsync();
  return (DRAIN_COUNT / ms) * 1000;
}

async function drainRate(url: string): Promise<number> {
  const store = await openStore(join(freshDir(), 'kiosk.sqlite'));
  await fill(store, DRAIN_COUNT);
  const drained = await drain(store, url);
  await drained.stop();
  await store.stop();
  return (DRAIN_COUNT / drained.ms) * 1000;
}

const mosquitto = await startMosquitto();
try {
  const raw = await rawInsertRate();
  const ours = await durableEnqueueRate();
  const rawPublish = await rawPublishRate(mosquitto.url);
  const drainPerSecond = await drainRate(mosquitto.url);
  const child = execFileSync(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(new URL('./rss.ts', import.meta.url)),
      mosquitto.url,
      String(RSS_COUNT),
    ],
    { encoding: 'utf8' },
  );
  const { peak, queued } = JSON.parse(child.trim().split('\n').at(-1) ?? '{}') as {
    peak: number;
    queued: number;
  };
  const fmt = (value: number) => Math.round(value).toLocaleString('en-US');
  process.stdout.write(
    [
      `baseline raw sqlite3 single-row INSERT (synchronous=FULL, ${CONCURRENCY} concurrent): ${fmt(raw)}/s; durable enqueue: ${fmt(ours)}/s`,
      `durable enqueue rate / raw INSERT rate: ${(ours / raw).toFixed(2)} (target: >= 0.8)`,
      `baseline raw mqtt.js QoS 1 publish of ${fmt(DRAIN_COUNT)}: ${fmt(rawPublish)}/s; outbox drain: ${fmt(drainPerSecond)}/s`,
      `drain rate of ${fmt(DRAIN_COUNT)} queued / raw mqtt.js QoS 1 publish rate: ${(drainPerSecond / rawPublish).toFixed(2)} (target: >= 0.5)`,
      `peak RSS with ${fmt(queued)} events queued: ${(peak / 1024 / 1024).toFixed(1)} MB (target: <= 150 MB)`,
      '',
    ].join('\n'),
  );
} finally {
  await mosquitto.stop();
}

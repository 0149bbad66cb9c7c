import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KioskLink } from '../../src/link/link.js';
import { topics } from '../../src/link/topics.js';
import { Store } from '../../src/store/index.js';
import { EventBus } from '../../src/util/bus.js';
import type { RuntimeEvents } from '../../src/util/events.js';
import { createLogger } from '../../src/util/log.js';

export const KIOSK_ID = 'bench-0001';
export const log = createLogger({ level: 'warn', pretty: false });
export const body = (n: number) => ({ pickupId: `bench-${n}`, slot: n % 1000 });
export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'bench-outbox-'));
}

export async function openStore(file: string): Promise<Store> {
  const store = new Store({ file, synchronous: 'FULL', defaultTopic: topics.events(KIOSK_ID), log });
  await store.start();
  return store;
}

/** Fills the outbox with `count` events in transactions of 1,000 (setup, not measured). */
export async function fill(store: Store, count: number): Promise<void> {
  for (let start = 0; start < count; start += 1000) {
    await store.transaction(async (tx) => {
      for (let n = start; n < Math.min(count, start + 1000); n++)
        tx.emit({ type: 'pickup.completed', body: body(n) });
    });
  }
}

/** Starts a link on `store` and resolves with the ms it took to drain the outbox to zero. */
export async function drain(store: Store, url: string): Promise<{ ms: number; stop: () => Promise<void> }> {
  const link = new KioskLink({
    kioskId: KIOSK_ID,
    url,
    protocolVersion: 5,
    keepaliveSeconds: 30,
    reconnect: { minMs: 100, maxMs: 1000 },
    log,
    bus: new EventBus<RuntimeEvents>(log),
    describe: () => ({}),
    store,
    window: process.env.BENCH_WINDOW ? Number(process.env.BENCH_WINDOW) : undefined,
  });
  const began = performance.now();
  await link.start();
  while (store.queueDepth > 0) await sleep(5);
  return { ms: performance.now() - began, stop: () => link.stop() };
}

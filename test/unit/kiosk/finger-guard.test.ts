import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FingerGuard, NotLocked } from '../../../src/kiosk/finger-guard.js';
import { Store } from '../../../src/store/index.js';
import { quietLogger } from '../../helpers/logs.js';

/** Issue 12: failed fingers per pickup, on disk, across sessions and restarts; lock, event, release. */
const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.stop()));
});

async function openStore(file: string): Promise<Store> {
  const store = new Store({
    file,
    synchronous: 'FULL',
    defaultTopic: 'cccd/v1/kiosk/t/events',
    log: quietLogger(),
  });
  await store.start();
  opened.push(store);
  return store;
}

const PICKUP = { kind: 'pickup', pickupId: 'PK-1' } as const;
const options = { lockAfter: 5, decoyTtlMs: 60_000 };

async function outboxTypes(store: Store): Promise<string[]> {
  return (await store.outboxPage(0, 100)).map((row) => row.type);
}

describe('FingerGuard', () => {
  it('counts failures over a restart of the store, locks at the limit once, and tells the registry once', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'finger-guard-')), 'kiosk.sqlite');
    let store = await openStore(file);
    let guard = new FingerGuard(store, options);
    for (let i = 0; i < 3; i++) await guard.recordFailure(PICKUP);
    expect(await guard.attemptsLeft(PICKUP)).toBe(2);
    await store.stop();
    opened.splice(0);

    store = await openStore(file); // a restart
    guard = new FingerGuard(store, options);
    expect(await guard.attemptsLeft(PICKUP)).toBe(2);
    expect(await guard.recordFailure(PICKUP)).toEqual({ failures: 4, locked: false });
    expect(await guard.recordFailure(PICKUP)).toEqual({ failures: 5, locked: true });
    expect(await guard.recordFailure(PICKUP)).toEqual({ failures: 6, locked: true });
    expect(await guard.attemptsLeft(PICKUP)).toBe(0);
    expect(await outboxTypes(store)).toEqual(['pickup.locked']);
    expect(await guard.locked()).toEqual([expect.objectContaining({ pickupId: 'PK-1', failures: 6 })]);

    await guard.release('PK-1', 'technician');
    expect(await guard.attemptsLeft(PICKUP)).toBe(5);
    expect(await outboxTypes(store)).toEqual(['pickup.locked', 'pickup.released']);
    await expect(guard.release('PK-1', 'technician')).rejects.toThrow(NotLocked);
  });

  it('counts a decoy like a pickup, without an event, and forgets it after its time', async () => {
    let now = 1_000_000;
    const store = await openStore(join(mkdtempSync(join(tmpdir(), 'finger-guard-')), 'kiosk.sqlite'));
    const guard = new FingerGuard(store, options, () => now);
    const decoy = { kind: 'decoy', lookup: 'keyed-hash' } as const;
    for (let i = 0; i < 5; i++) await guard.recordFailure(decoy);
    expect(await guard.attemptsLeft(decoy)).toBe(0);
    expect(await outboxTypes(store)).toEqual([]);
    now += options.decoyTtlMs;
    expect(await guard.attemptsLeft(decoy)).toBe(5);
    expect(await guard.attemptsLeft(PICKUP)).toBe(5);
  });
});

import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import { quietLogger } from '../../helpers/logs.js';

/**
 * Issue 12, "personal data at rest": a row of personal data that was acknowledged and deleted is
 * gone from the database file AND the WAL (secure_delete, WAL truncated after the purge), and the
 * store's files are the kiosk user's only whatever the umask.
 */
const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.stop()));
});

const PHONE = '0987654321';
const EMAIL = 'nguyen.van.a@example.vn';

async function openStore(file: string): Promise<Store> {
  const store = new Store({
    file,
    synchronous: 'FULL',
    defaultTopic: 'cccd/v1/kiosk/test-0001/events',
    personalEventTypes: ['update.submitted'],
    log: quietLogger(),
  });
  await store.start();
  opened.push(store);
  return store;
}

function bytesOf(file: string): Buffer {
  return Buffer.concat(
    ['', '-wal', '-shm'].filter((s) => existsSync(file + s)).map((s) => readFileSync(file + s)),
  );
}

describe('personal data in the store', () => {
  it('an acknowledged update is gone from the database and its WAL once removed', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pii-store-')), 'kiosk.sqlite');
    const store = await openStore(file);
    // enough other traffic that the WAL has frames of its own around the personal row
    for (let i = 0; i < 20; i++)
      await store.enqueue({ type: 'vault.loaded', body: { pickupId: `P-${i}`, slot: i } });
    await store.enqueue({ type: 'update.submitted', body: { phone: PHONE, email: EMAIL } });
    expect(bytesOf(file).includes(Buffer.from(EMAIL))).toBe(true); // the scan can see it while it is there
    const rows = await store.outboxPage(0, 100);
    await store.removeFromOutbox(rows.map((row) => row.seq));
    const bytes = bytesOf(file);
    expect(bytes.includes(Buffer.from(PHONE))).toBe(false);
    expect(bytes.includes(Buffer.from(EMAIL))).toBe(false);
  });

  it('creates its files 0600 in a 0700 directory under a permissive umask', async () => {
    const previous = process.umask(0o000);
    try {
      const dir = join(mkdtempSync(join(tmpdir(), 'pii-modes-')), 'data');
      mkdirSync(dir, { mode: 0o777 });
      const file = join(dir, 'kiosk.sqlite');
      const store = await openStore(file);
      await store.enqueue({ type: 'vault.loaded', body: { pickupId: 'P-1', slot: 1 } });
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const suffix of ['', '-wal', '-shm'])
        if (existsSync(file + suffix)) expect(statSync(file + suffix).mode & 0o777, suffix).toBe(0o600);
      expect(existsSync(`${file}-wal`)).toBe(true);
    } finally {
      process.umask(previous);
    }
  });
});

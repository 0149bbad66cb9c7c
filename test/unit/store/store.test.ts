import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LATEST_VERSION,
  migrate,
  migrations,
  recoverStoreFile,
  SqliteDatabase,
  Store,
  StoreFull,
  type StoreOptions,
} from '../../../src/store/index.js';
import { quietLogger } from '../../helpers/logs.js';

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.stop()));
});

function tempFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'store-')), 'kiosk.sqlite');
}

async function openStore(file = tempFile(), extra: Partial<StoreOptions> = {}): Promise<Store> {
  const store = new Store({
    file,
    synchronous: 'FULL',
    defaultTopic: 'cccd/v1/kiosk/test-0001/events',
    log: quietLogger(),
    ...extra,
  });
  await store.start();
  opened.push(store);
  return store;
}

async function tables(db: SqliteDatabase): Promise<string[]> {
  const rows = await db.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  return rows.map((row) => row.name);
}

describe('migrations', () => {
  it('are numbered 1…n without gaps', () => {
    expect(migrations.map((step) => step.version)).toEqual(
      Array.from({ length: migrations.length }, (_, index) => index + 1),
    );
  });

  it('step 1 creates outbox, inbox, jobs and audit and sets user_version 1', async () => {
    const db = await SqliteDatabase.open(tempFile());
    expect(await migrate(db, 1)).toEqual([1]);
    expect(await tables(db)).toEqual(['audit', 'inbox', 'jobs', 'outbox']);
    expect((await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version).toBe(1);
    await db.close();
  });

  it('step 2 indexes outbox.created_at on a database that already holds events, keeping them', async () => {
    const db = await SqliteDatabase.open(tempFile());
    await migrate(db, 1);
    await db.run(
      "INSERT INTO outbox (event_id, topic, type, body, created_at) VALUES ('e-1', 't', 'x.y', '{}', 1)",
    );
    expect(await migrate(db, 2)).toEqual([2]);
    expect(await db.get<{ event_id: string }>('SELECT event_id FROM outbox')).toEqual({ event_id: 'e-1' });
    const plan = await db.all<{ detail: string }>('EXPLAIN QUERY PLAN SELECT MIN(created_at) FROM outbox');
    expect(plan.map((step) => step.detail).join(' ')).toContain('outbox_created_at');
    expect((await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version).toBe(2);
    await db.close();
  });

  it('step 7 adds the manifest resync requests and drops the jobs table nothing ever filled', async () => {
    const db = await SqliteDatabase.open(tempFile());
    await migrate(db, 6);
    expect(await tables(db)).toContain('jobs');
    expect(await migrate(db, 7)).toEqual([7]);
    const after = await tables(db);
    expect(after).toContain('manifest_resyncs');
    expect(after).not.toContain('jobs');
    await db.close();
  });

  it('are forward-only: re-running applies nothing, a newer database is refused', async () => {
    const db = await SqliteDatabase.open(tempFile());
    await migrate(db);
    expect(await migrate(db)).toEqual([]);
    await db.exec(`PRAGMA user_version = ${LATEST_VERSION + 1}`);
    await expect(migrate(db)).rejects.toMatchObject({ name: 'SchemaTooNew' });
    await db.close();
  });

  it('an additive step leaves user_version where older runtimes accept it, and is applied once', async () => {
    const db = await SqliteDatabase.open(tempFile());
    await migrate(db);
    const userVersion = async () =>
      (await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version;
    const lastBreaking = Math.max(...migrations.filter((step) => !step.additive).map((step) => step.version));
    const additive = migrations.filter((step) => step.additive).map((step) => step.version);
    expect(additive.length).toBeGreaterThan(0);
    // a runtime that knows steps up to lastBreaking (and reads only user_version) opens this file:
    // the release a kiosk rolls back to after the update that added these tables
    expect(await userVersion()).toBe(lastBreaking);
    const recorded = await db.all<{ version: number }>(
      'SELECT version FROM schema_additions ORDER BY version',
    );
    expect(recorded.map((row) => row.version)).toEqual(additive);
    expect(await migrate(db)).toEqual([]);
    // a step older code would misread moves user_version past everything before it
    const breaking = { version: LATEST_VERSION + 1, description: 'breaking', sql: 'CREATE TABLE later (a)' };
    expect(await migrate(db, LATEST_VERSION + 1, [...migrations, breaking])).toEqual([LATEST_VERSION + 1]);
    expect(await userVersion()).toBe(LATEST_VERSION + 1);
    await db.close();
  });

  it('roll back a failing step entirely', async () => {
    const db = await SqliteDatabase.open(tempFile());
    const broken = [
      ...migrations,
      { version: LATEST_VERSION + 1, description: 'bad', sql: 'CREATE TABLE z (a); SELEKT 1;' },
    ];
    await expect(migrate(db, LATEST_VERSION + 1, broken)).rejects.toThrow();
    expect(await tables(db)).not.toContain('z');
    await db.close();
  });
});

describe('Store', () => {
  it('opens in WAL mode with the configured synchronous level', async () => {
    const store = await openStore(tempFile(), { synchronous: 'NORMAL' });
    const mode = await store.read().get<{ journal_mode: string }>('PRAGMA journal_mode');
    expect(mode?.journal_mode).toBe('wal');
    expect(store.health().state).toBe('up');
  });

  it('writes a state change and its event in one transaction, or neither', async () => {
    const store = await openStore();
    await store.transaction(async (tx) => {
      await tx.run('CREATE TABLE slots (id INTEGER PRIMARY KEY, card TEXT)');
      await tx.run("INSERT INTO slots VALUES (1, 'card-1')");
    });
    await store.transaction(async (tx) => {
      await tx.run('UPDATE slots SET card = NULL WHERE id = 1');
      tx.emit({ type: 'pickup.completed', body: { pickupId: 'p-1', slot: 1 } });
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.run("UPDATE slots SET card = 'x' WHERE id = 1");
        tx.emit({ type: 'pickup.completed', body: { pickupId: 'p-2', slot: 1 } });
        throw new Error('dispense failed');
      }),
    ).rejects.toThrow('dispense failed');
    expect(await store.read().get('SELECT card FROM slots')).toEqual({ card: null });
    const page = await store.outboxPage(0, 10);
    expect(page.map((row) => JSON.parse(row.body))).toEqual([{ pickupId: 'p-1', slot: 1 }]);
    expect(store.queueDepth).toBe(1);
  });

  it('group-commits concurrent callers and a failing one does not undo the others', async () => {
    const store = await openStore();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, n) =>
        store.transaction(async (tx) => {
          tx.emit({ type: 'pickup.completed', id: `event-${String(n).padStart(4, '0')}`, body: { n } });
          await tx.audit('test', 'n', { n });
          if (n === 7) throw new Error('boom');
        }),
      ),
    );
    expect(results.filter((result) => result.status === 'rejected')).toHaveLength(1);
    const page = await store.outboxPage(0, 100);
    expect(page.map((row) => row.event_id)).toEqual(
      Array.from({ length: 50 }, (_, n) => `event-${String(n).padStart(4, '0')}`).filter((_, n) => n !== 7),
    );
    const audit = await store.read().get<{ n: number }>('SELECT COUNT(*) AS n FROM audit');
    expect(audit?.n).toBe(49);
  });

  it('pages the outbox in seq order and removes acknowledged rows', async () => {
    const store = await openStore();
    await store.transaction(async (tx) => {
      for (let n = 0; n < 25; n++) tx.emit({ type: 'pickup.completed', body: { n } });
    });
    const first = await store.outboxPage(0, 10);
    const second = await store.outboxPage(first.at(-1)?.seq ?? 0, 10);
    expect(first).toHaveLength(10);
    expect((second[0]?.seq ?? 0) > (first.at(-1)?.seq ?? 0)).toBe(true);
    expect(await store.removeFromOutbox(first.map((row) => row.seq))).toBe(10);
    expect(store.queueDepth).toBe(15);
    expect((await store.outboxStats()).depth).toBe(15);
  });

  it('records an inbound message id once: a redelivery is seen as such', async () => {
    const store = await openStore();
    const first = await store.transaction((tx) => tx.markApplied('msg-00000001', 'command.request'));
    const again = await store.transaction((tx) => tx.markApplied('msg-00000001', 'command.request'));
    expect([first, again]).toEqual([true, false]);
  });

  it('keeps everything committed across a reopen', async () => {
    const file = tempFile();
    const store = await openStore(file);
    await store.enqueue({ type: 'pickup.completed', body: { n: 1 } });
    await store.stop();
    opened.splice(opened.indexOf(store), 1);
    const reopened = await openStore(file);
    expect(reopened.queueDepth).toBe(1);
  });

  it('on a full disk refuses new sessions with a clear status instead of crashing, and recovers', async () => {
    // room for the schema (every migration's tables and indexes) and a few events, no more
    const store = await openStore(tempFile(), { maxSizeBytes: 128 * 1024 });
    const events: string[] = [];
    store.on((event) => events.push(event.kind));
    const big = 'x'.repeat(2000);
    let error: unknown;
    for (let n = 0; n < 200 && !error; n++) {
      error = await store.enqueue({ type: 'pickup.completed', body: { big, n } }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
    }
    expect(error).toBeInstanceOf(StoreFull);
    expect(store.acceptsNewSessions).toBe(false);
    expect(store.health()).toMatchObject({ state: 'degraded', detail: expect.stringContaining('disk full') });
    expect(events).toContain('health');
    // The pump drains: space comes back and the next event commits again.
    const rows = await store.outboxPage(0, 1000);
    await store.removeFromOutbox(rows.map((row) => row.seq));
    await store.enqueue({ type: 'pickup.completed', body: { n: -1 } });
    expect(store.acceptsNewSessions).toBe(true);
  });

  it('moves a corrupt database file aside, reports it, and starts fresh', async () => {
    const file = tempFile();
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const store = await openStore(file);
    const moved = readdirSync(join(file, '..')).filter((name) => name.includes('.corrupt-'));
    expect(moved).toEqual([expect.stringMatching(/^kiosk\.sqlite\.corrupt-.*-notadb$/)]);
    expect(statSync(join(file, '..', moved[0] ?? '')).mode & 0o777).toBe(0o600);
    // reported (below), not a lasting fault: the fresh store is up
    expect(store.health()).toMatchObject({ state: 'up', detail: expect.stringContaining('moved aside') });
    const page = await store.outboxPage(0, 10);
    expect(page.map((row) => row.type)).toEqual(['fault.storage']);
    const audit = await store.read().get<{ action: string }>('SELECT action FROM audit');
    expect(audit?.action).toBe('store.corrupt-moved-aside');
  });

  it('reports a copy moved aside before a crash kept it from being reported, once', async () => {
    const file = tempFile();
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    // the move happened (a start that crashed before its store opened), the report did not
    expect(await recoverStoreFile(file, quietLogger())).toMatchObject({ corruption: 'SQLITE_NOTADB' });
    const store = await openStore(file);
    const types = async () => (await store.outboxPage(0, 10)).map((row) => row.type);
    expect(await types()).toEqual(['fault.storage']);
    await store.stop();
    opened.splice(opened.indexOf(store), 1);
    const again = await openStore(file);
    expect((await again.outboxPage(0, 10)).map((row) => row.type)).toEqual(['fault.storage']);
  });
});

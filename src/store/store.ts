import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Health, Service } from '../util/lifecycle.js';
import { ensurePrivateFile } from '../util/private-files.js';
import type { Logger } from '../util/log.js';
import { migrate } from './migrations.js';
import type { OutboxEventInput, Transaction } from './transaction.js';
import { type RunResult, type SqlParams, SqliteDatabase, sqliteCode } from './sqlite.js';
import { inspectStoreFile, listMovedAside, type MovedAside, recoverStoreFile } from './recovery.js';

export type Synchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

export interface StoreOptions {
  file: string;
  /** `PRAGMA synchronous`: FULL makes every committed event survive power loss (SQLite §pragma) */
  synchronous: Synchronous;
  /** most transactions shared by one commit (group commit) */
  maxBatch?: number;
  /** cap on the database size, so the kiosk's store cannot fill the SD card it shares */
  maxSizeBytes?: number;
  /** topic events go to unless `emit` names another (the kiosk's `events` topic) */
  defaultTopic: string;
  log: Logger;
  now?: () => number;
  /** outbox event types whose body carries personal data: their removal is a purge (see `purged`) */
  personalEventTypes?: readonly string[];
  /**
   * Opened by an operator tool (`kiosk queue`) beside a possibly running kiosk: no WAL checkpoint
   * and no moving a bad file aside — those belong to the runtime alone.
   */
  forTool?: boolean;
  /**
   * While full, how often to look for room (default 1 s): space returns without any event (an
   * operator deletes a file, logs rotate, the outbox drains), so it is polled.
   */
  roomPollMs?: number;
  /** free bytes the file system must have before the store counts as writable again (default 1 MiB) */
  roomHeadroomBytes?: number;
}

export interface OutboxRow {
  seq: number;
  event_id: string;
  topic: string;
  type: string;
  body: string;
  created_at: number;
}

export interface OutboxStats {
  depth: number;
  oldestCreatedAt: number | null;
}

/** The store has no room left (SQLITE_FULL or the size cap): new citizen sessions are refused. */
export class StoreFull extends Error {
  override readonly name = 'StoreFull';
}
/** The store is not open (not started yet, or stopped). */
export class StoreClosed extends Error {
  override readonly name = 'StoreClosed';
}

interface Pending {
  work: (tx: Transaction) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export type StoreEvent =
  | { kind: 'outbox'; added: number; removed: number }
  | { kind: 'health'; health: Health }
  | { kind: 'fault'; fault: 'corrupt-moved-aside'; movedTo: string };

/**
 * The kiosk's durable local store: one SQLite file in WAL mode with a writer connection and a
 * reader connection. All writes go through `transaction`, which queues the work and commits
 * whatever queued up meanwhile in one BEGIN IMMEDIATE … COMMIT — one fsync for many callers
 * (group commit). Each caller's work runs in its own SAVEPOINT, so one failing caller rolls back
 * only its own changes. Reads use the reader connection and so see committed data only.
 */
export class Store implements Service {
  readonly name = 'store';
  private writer: SqliteDatabase | undefined;
  private reader: SqliteDatabase | undefined;
  private readonly queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private full = false;
  private depth = 0;
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly now: () => number;
  /** set once a moved-aside corrupt file was reported: shown in the health detail, not as a fault */
  private recoveryNote: string | undefined;
  /** `max_page_count` when `maxSizeBytes` caps the file */
  private maxPages: number | undefined;
  /** polls for room while the store is full (no event tells us when space returns) */
  private roomPoll: NodeJS.Timeout | undefined;
  private checkingRoom: Promise<boolean> | undefined;

  constructor(private readonly options: StoreOptions) {
    this.now = options.now ?? Date.now;
  }

  get file(): string {
    return this.options.file;
  }

  /** False while the disk is full: the kiosk must not start a citizen session it cannot record. */
  get acceptsNewSessions(): boolean {
    return this.writer !== undefined && !this.full;
  }

  /** Outbox rows not yet acknowledged by the broker (kept exact by counting commits). */
  get queueDepth(): number {
    return this.depth;
  }

  on(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    const { file, log, forTool } = this.options;
    // before anything reads the file (an operator tool only refuses a corrupt one: it never moves it)
    if (!forTool) await recoverStoreFile(file, log, this.now);
    else if (await inspectStoreFile(file)) throw new CorruptDatabase('the store file is corrupt');
    ensurePrivateFile(file);
    const writer = await this.openWriter(file);
    this.writer = writer;
    await this.openReader();
    const row = await this.reader?.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox');
    this.depth = row?.n ?? 0;
    if (forTool) return;
    // a crash may have left frames of deleted personal data in the WAL: fold them in and truncate it
    await this.checkpoint(writer);
    // on a full disk the report waits for room (polled): a full disk is not a reason to crash-loop
    await this.reportMovedAside();
    log.info({ file, depth: this.depth, synchronous: this.options.synchronous }, 'store: open');
  }

  /** Returns `fallback` when `error` is the store being full (flagged, polled); rethrows otherwise. */
  private unlessFull<T>(error: unknown, fallback: T): T {
    if (this.classify(error) instanceof StoreFull) return fallback;
    throw error;
  }

  private async openWriter(file: string): Promise<SqliteDatabase> {
    const db = await SqliteDatabase.open(file);
    try {
      await db.exec(
        // secure_delete: deleted rows are overwritten with zeros, not left in free pages (issue 12)
        `PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${this.options.synchronous}; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;`,
      );
      if (this.options.maxSizeBytes !== undefined) {
        const page = await db.get<{ page_size: number }>('PRAGMA page_size');
        this.maxPages = Math.max(1, Math.floor(this.options.maxSizeBytes / (page?.page_size ?? 4096)));
        await db.get(`PRAGMA max_page_count = ${this.maxPages}`);
      }
      await migrate(db);
      return db;
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Reports every moved-aside copy of the store not reported yet (`fault.storage`, audit row): the
   * one moved at this start, and one a crash kept from being reported at the last. On a full disk
   * the report waits for room (`setFull(false)` tries again).
   */
  private async reportMovedAside(): Promise<void> {
    const moved = listMovedAside(this.options.file);
    if (moved.length === 0) return;
    const reported = await this.transaction(async (tx) => {
      const fresh: MovedAside[] = [];
      for (const copy of moved) {
        const row = await tx.run(
          'INSERT OR IGNORE INTO store_faults (moved_to, corruption, moved_at, reported_at) VALUES (?, ?, ?, ?)',
          [copy.name, copy.corruption, copy.at, this.now()],
        );
        if (row.changes === 0) continue;
        fresh.push(copy);
        await tx.audit('runtime', 'store.corrupt-moved-aside', { movedTo: copy.name, code: copy.corruption });
        tx.emit({
          type: 'fault.storage',
          body: { fault: 'corrupt-database', detail: `${copy.corruption}: moved aside as ${copy.name}` },
        });
      }
      return fresh;
    }).catch((error: unknown) => this.unlessFull(error, []));
    for (const copy of reported) {
      this.recoveryNote = `recovered: a corrupt database (${copy.corruption}) was moved aside as ${copy.name}`;
      this.notify({ kind: 'fault', fault: 'corrupt-moved-aside', movedTo: copy.name });
    }
  }

  private async openReader(): Promise<void> {
    const reader = await SqliteDatabase.open(this.options.file, { readOnly: true });
    await reader.exec('PRAGMA busy_timeout = 5000');
    this.reader = reader;
  }

  /**
   * Runs `work` in a transaction shared with other callers queued at the same time. Resolves once
   * the commit is durable (per `synchronous`); rejects — with nothing of `work` written — if
   * `work` throws or the commit fails. Keep `work` short and free of I/O other than `tx`.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    if (!this.writer) return Promise.reject(new StoreClosed('store is not open'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Puts one event in the outbox (its own durable transaction, group-committed). */
  enqueue(event: OutboxEventInput): Promise<string> {
    return this.transaction(async (tx) => tx.emit(event));
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 512);
        await this.commitBatch(batch);
      }
    } finally {
      // Cleared in the same turn as the empty-queue check, so no caller is stranded in between.
      this.flushing = undefined;
    }
  }

  private async commitBatch(batch: Pending[]): Promise<void> {
    const db = this.writer;
    if (!db) {
      for (const item of batch) item.reject(new StoreClosed('store is not open'));
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let emitted = 0;
    let removed = 0;
    let purged = false;
    try {
      await db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      const typed = this.classify(error);
      for (const item of batch) item.reject(typed);
      return;
    }
    // a caller alone in its batch needs no SAVEPOINT: a failure rolls the whole transaction back,
    // which is then exactly its own writes
    const alone = batch.length === 1;
    for (const item of batch) {
      const tx = new BufferedTransaction(db, this.options.defaultTopic, this.now, !alone);
      try {
        const value = await item.work(tx);
        await tx.writeEmitted();
        await tx.release();
        emitted += tx.emitted;
        removed += tx.outboxRemoved;
        purged ||= tx.didPurge;
        outcomes.push({ ok: true, value });
      } catch (error) {
        const typed = this.classify(error);
        const undone =
          !alone &&
          (await tx.rollback().then(
            () => true,
            () => false,
          ));
        if (!undone || typed instanceof StoreFull) {
          // SQLite rolls the whole transaction back on some errors (SQLITE_FULL, I/O): every caller
          // in this batch lost its writes, so every one of them hears about it. (A caller alone
          // in its batch is rolled back here too, and hears its own error.)
          await db.exec('ROLLBACK').catch(() => undefined);
          for (const pending of batch) pending.reject(typed);
          return;
        }
        outcomes.push({ ok: false, error: typed });
      }
    }
    try {
      await db.exec('COMMIT');
    } catch (error) {
      await db.exec('ROLLBACK').catch(() => undefined);
      const typed = this.classify(error);
      for (const item of batch) item.reject(typed);
      return;
    }
    if (purged) await this.checkpoint(db);
    // a commit on a full disk may only have reused WAL space: room is measured, not assumed
    if (this.full) await this.checkRoom();
    this.depth += emitted - removed;
    // an operator tool (`kiosk pickup release`) may add events beside the runtime: recount when the
    // tally says the queue drained, so the status never reports a depth of -1 (or hides a row)
    if (removed > 0 && this.depth <= 0) await this.recountDepth(db);
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.error);
    });
    if (emitted > 0 || removed > 0) this.notify({ kind: 'outbox', added: emitted, removed });
  }

  /**
   * `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the database and truncates it to zero
   * bytes, so no copy of deleted rows stays in the WAL. A reader holding an old snapshot makes it
   * report busy; it is retried a few times, and a checkpoint left busy is logged, not thrown (the
   * next purge or the next start tries again).
   */
  private async checkpoint(db: SqliteDatabase): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await db
        .get<{ busy: number }>('PRAGMA wal_checkpoint(TRUNCATE)')
        .catch(() => ({ busy: 1 }));
      if (row?.busy === 0) return;
      await new Promise((done) => setTimeout(done, 20));
    }
    this.options.log.warn('store: WAL checkpoint after a purge stayed busy; retried on the next one');
  }

  private async recountDepth(db: SqliteDatabase): Promise<void> {
    const row = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox').catch(() => undefined);
    if (row) this.depth = row.n;
  }

  /** Maps SQLITE_FULL to StoreFull (and flags the store full); other errors pass through. */
  private classify(error: unknown): unknown {
    if (sqliteCode(error) !== 'SQLITE_FULL') return error;
    if (!this.full) this.setFull(true);
    return new StoreFull('the kiosk store is full', { cause: error });
  }

  private setFull(full: boolean): void {
    this.full = full;
    if (full) {
      this.options.log.error('store: disk full; new citizen sessions are refused until there is room');
      this.roomPoll ??= setInterval(() => void this.checkRoom(), this.options.roomPollMs ?? 1000);
      this.roomPoll.unref();
    } else {
      clearInterval(this.roomPoll);
      this.roomPoll = undefined;
      this.options.log.info('store: writable again; citizen sessions accepted');
      // a moved-aside file found while the disk was full is reported now
      void this.reportMovedAside().catch((error: unknown) =>
        this.options.log.error({ err: error }, 'store: moved-aside report failed'),
      );
    }
    this.notify({ kind: 'health', health: this.health() });
  }

  /** Clears the full state when there is room again; true when the store is writable. */
  private checkRoom(): Promise<boolean> {
    this.checkingRoom ??= this.measureRoom()
      .then((room) => {
        if (room && this.full && this.writer) this.setFull(false);
        return room;
      })
      .catch(() => false)
      .finally(() => {
        this.checkingRoom = undefined;
      });
    return this.checkingRoom;
  }

  /**
   * Room = the file system has `roomHeadroomBytes` free for the kiosk's user (statfs `bavail`) and,
   * when `maxSizeBytes` caps the file, the cap leaves some pages (unused or on the free list).
   */
  private async measureRoom(): Promise<boolean> {
    const headroom = this.options.roomHeadroomBytes ?? 1024 * 1024;
    const disk = await statfs(dirname(this.options.file));
    if (disk.bavail * disk.bsize < headroom) return false;
    if (this.maxPages === undefined || !this.reader) return true;
    const [count, free, size] = await Promise.all([
      this.reader.get<{ page_count: number }>('PRAGMA page_count'),
      this.reader.get<{ freelist_count: number }>('PRAGMA freelist_count'),
      this.reader.get<{ page_size: number }>('PRAGMA page_size'),
    ]);
    const pageSize = size?.page_size ?? 4096;
    const spare = (this.maxPages - (count?.page_count ?? 0) + (free?.freelist_count ?? 0)) * pageSize;
    return spare >= Math.min(headroom, (this.maxPages * pageSize) / 16);
  }

  private notify(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.log.error({ err: error }, 'store: listener failed');
      }
    }
  }

  /** The next `limit` outbox rows after `afterSeq`, in order (never the whole outbox). */
  async outboxPage(afterSeq: number, limit: number): Promise<OutboxRow[]> {
    return this.read().all<OutboxRow>('SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?', [
      afterSeq,
      limit,
    ]);
  }

  /**
   * Removes acknowledged rows (after the broker's PUBACK). Removing an event of a type that carries
   * personal data (`personalEventTypes`) is a purge: the WAL is truncated before this resolves.
   */
  removeFromOutbox(seqs: readonly number[]): Promise<number> {
    const personal = new Set(this.options.personalEventTypes ?? []);
    return this.transaction(async (tx) => {
      let changes = 0;
      for (let start = 0; start < seqs.length; start += 500) {
        const chunk = seqs.slice(start, start + 500);
        const removed = await tx.all<{ type: string }>(
          `DELETE FROM outbox WHERE seq IN (${chunk.map(() => '?').join(',')}) RETURNING type`,
          chunk,
        );
        changes += removed.length;
        if (removed.some((row) => personal.has(row.type))) tx.purged();
      }
      (tx as BufferedTransaction).outboxRemoved += changes;
      return changes;
    });
  }

  async outboxStats(): Promise<OutboxStats> {
    const row = await this.read().get<{ depth: number; oldest: number | null }>(
      'SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM outbox',
    );
    return { depth: row?.depth ?? 0, oldestCreatedAt: row?.oldest ?? null };
  }

  /** Read-only queries on committed data. */
  read(): SqliteDatabase {
    if (!this.reader) throw new StoreClosed('store is not open');
    return this.reader;
  }

  async stop(): Promise<void> {
    clearInterval(this.roomPoll);
    this.roomPoll = undefined;
    await this.flushing;
    await this.checkingRoom;
    const { writer, reader } = this;
    this.writer = undefined;
    this.reader = undefined;
    await reader?.close().catch(() => undefined);
    await writer?.close();
  }

  health(): Health {
    if (!this.writer) return { state: 'down', detail: 'not open' };
    if (this.full) return { state: 'degraded', detail: 'disk full: new citizen sessions refused' };
    return {
      state: 'up',
      detail: `queue depth ${this.depth}${this.recoveryNote ? `; ${this.recoveryNote}` : ''}`,
    };
  }
}

class CorruptDatabase extends Error {
  override readonly name = 'CorruptDatabase';
}

class BufferedTransaction implements Transaction {
  private readonly pending: Array<[string, string, string, string, number]> = [];
  emitted = 0;
  outboxRemoved = 0;
  didPurge = false;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly defaultTopic: string,
    private readonly now: () => number,
    /** whether other callers share the transaction (then this one's writes sit in a SAVEPOINT) */
    private readonly shared: boolean,
  ) {}

  /**
   * Each caller's work gets its own SAVEPOINT so a failure undoes only its writes — opened lazily:
   * work that only emits up to 100 events is one INSERT, atomic by itself, and skips two round trips.
   * A caller alone in the transaction has none (the transaction's ROLLBACK undoes exactly its work).
   */
  private savepoint = false;

  private async openSavepoint(): Promise<void> {
    if (this.savepoint || !this.shared) return;
    await this.db.exec('SAVEPOINT work');
    this.savepoint = true;
  }

  async release(): Promise<void> {
    if (this.savepoint) await this.db.exec('RELEASE work');
    this.savepoint = false;
  }

  async rollback(): Promise<void> {
    if (this.savepoint) await this.db.exec('ROLLBACK TO work; RELEASE work');
    this.savepoint = false;
  }

  async run(sql: string, params?: SqlParams): Promise<RunResult> {
    await this.openSavepoint();
    return this.db.run(sql, params);
  }
  async get<Row>(sql: string, params?: SqlParams): Promise<Row | undefined> {
    await this.openSavepoint();
    return this.db.get<Row>(sql, params);
  }
  async all<Row>(sql: string, params?: SqlParams): Promise<Row[]> {
    await this.openSavepoint();
    return this.db.all<Row>(sql, params);
  }

  emit(event: OutboxEventInput): string {
    const id = event.id ?? randomUUID();
    this.pending.push([
      id,
      event.topic ?? this.defaultTopic,
      event.type,
      JSON.stringify(event.body),
      this.now(),
    ]);
    return id;
  }

  async writeEmitted(): Promise<void> {
    if (this.pending.length > 100) await this.openSavepoint();
    // One multi-row INSERT per 100 events: fewer round trips to the sqlite3 thread.
    for (let start = 0; start < this.pending.length; start += 100) {
      const rows = this.pending.slice(start, start + 100);
      await this.db.run(
        `INSERT INTO outbox (event_id, topic, type, body, created_at) VALUES ${rows.map(() => '(?, ?, ?, ?, ?)').join(',')}`,
        rows.flat(),
      );
    }
    this.emitted = this.pending.length;
  }

  purged(): void {
    this.didPurge = true;
  }

  async markApplied(messageId: string, kind: string): Promise<boolean> {
    const result = await this.run(
      'INSERT OR IGNORE INTO inbox (message_id, kind, applied_at) VALUES (?, ?, ?)',
      [messageId, kind, this.now()],
    );
    return result.changes === 1;
  }

  async audit(actor: string, action: string, detail?: Record<string, unknown>): Promise<void> {
    await this.run('INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)', [
      this.now(),
      actor,
      action,
      detail === undefined ? null : JSON.stringify(detail),
    ]);
  }
}

export type { OutboxEventInput, Transaction };

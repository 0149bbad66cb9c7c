import sqlite3 from 'sqlite3';

export type SqlValue = string | number | bigint | Buffer | null;
export type SqlParams = readonly SqlValue[] | Record<string, SqlValue>;

export interface RunResult {
  changes: number;
  lastID: number;
}

/** Most prepared statements kept per connection (the SQL texts of the hot paths are far fewer). */
const MAX_PREPARED = 256;

/**
 * SQL that runs to completion in one step, so a kept statement holds no lock and no read snapshot
 * between uses: writes without RETURNING (`run`), and anything read to the end (`all`).
 */
const COMPLETES_IN_ONE_STEP = /^\s*(INSERT|REPLACE|UPDATE|DELETE)\b(?![\s\S]*\bRETURNING\b)/i;

/**
 * A promise face on one sqlite3 connection. sqlite3 serialises statements on a connection.
 *
 * Statements with parameters are prepared once per SQL text and kept: `db.run(sql)` would compile
 * the SQL, run it and finalize it each time — about three times the CPU of running a kept
 * statement, on every write of every caller. Only statements that finish in the call are kept
 * (writes without RETURNING via `run`, and `all`, which reads to the end): a kept statement left
 * mid-result would hold a read snapshot open. A call without parameters is never served by a kept
 * statement (sqlite3 would reuse the last call's bindings), nor is `get` (it stops at the first row).
 */
export class SqliteDatabase {
  private readonly prepared = new Map<string, Promise<sqlite3.Statement>>();

  private constructor(
    private readonly db: sqlite3.Database,
    readonly file: string,
  ) {}

  static open(file: string, options: { readOnly?: boolean } = {}): Promise<SqliteDatabase> {
    const mode = options.readOnly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(file, mode, (error) => {
        if (error) reject(error);
        else resolve(new SqliteDatabase(db, file));
      });
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.db.exec(sql, (error) => (error ? reject(error) : resolve())),
    );
  }

  run(sql: string, params: SqlParams = []): Promise<RunResult> {
    const kept = hasParameters(params) && COMPLETES_IN_ONE_STEP.test(sql) ? this.statement(sql) : undefined;
    if (kept) return kept.then((statement) => runStatement(statement, params));
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, error: Error | null) {
        if (error) reject(error);
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  get<Row>(sql: string, params: SqlParams = []): Promise<Row | undefined> {
    return new Promise((resolve, reject) =>
      this.db.get(sql, params, (error, row) => (error ? reject(error) : resolve(row as Row | undefined))),
    );
  }

  all<Row>(sql: string, params: SqlParams = []): Promise<Row[]> {
    const kept = hasParameters(params) ? this.statement(sql) : undefined;
    if (kept)
      return kept.then(
        (statement) =>
          new Promise((resolve, reject) =>
            statement.all(params, (error, rows) => (error ? reject(error) : resolve(rows as Row[]))),
          ),
      );
    return new Promise((resolve, reject) =>
      this.db.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as Row[]))),
    );
  }

  /**
   * The kept statement of `sql`, prepared on first use; undefined once MAX_PREPARED are kept (the
   * caller then runs the SQL unkept). One that fails to prepare is not kept: its callers hear why.
   * Statements are never evicted while the connection is open, so none is finalized under a caller.
   */
  private statement(sql: string): Promise<sqlite3.Statement> | undefined {
    const known = this.prepared.get(sql);
    if (known || this.prepared.size >= MAX_PREPARED) return known;
    const preparing = new Promise<sqlite3.Statement>((resolve, reject) => {
      const statement = this.db.prepare(sql, (error: Error | null) => {
        if (!error) return resolve(statement);
        this.prepared.delete(sql);
        reject(error);
      });
    });
    this.prepared.set(sql, preparing);
    return preparing;
  }

  async close(): Promise<void> {
    const kept = await Promise.allSettled(this.prepared.values());
    this.prepared.clear();
    for (const outcome of kept)
      if (outcome.status === 'fulfilled')
        await new Promise<void>((done) => outcome.value.finalize(() => done()));
    return new Promise((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve())));
  }
}

function hasParameters(params: SqlParams): boolean {
  return Array.isArray(params) ? params.length > 0 : Object.keys(params).length > 0;
}

function runStatement(statement: sqlite3.Statement, params: SqlParams): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    statement.run(params, function (this: sqlite3.RunResult, error: Error | null) {
      if (error) reject(error);
      else resolve({ changes: this.changes, lastID: this.lastID });
    });
  });
}

/** The SQLite result code of an error from sqlite3 (e.g. "SQLITE_FULL"), or undefined. */
export function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

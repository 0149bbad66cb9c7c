import type { SqliteDatabase } from './sqlite.js';

/**
 * Forward-only schema migrations, each applied in one transaction. A database newer than this code
 * is refused instead of being "downgraded". Never edit a released step: append a new one.
 *
 * `PRAGMA user_version` is the oldest schema a runtime must know to use the file, not the newest
 * step applied. A step that older code would misread (a changed meaning, a dropped table) moves
 * it, and older code refuses the file. An `additive` step (a table or column older code never
 * reads) leaves it where it was and is recorded in `schema_additions` instead: a release rolled
 * back after the update that brought the step (issue 14) still opens the store it left, including
 * releases that predate this rule, since they read only user_version.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
  readonly additive?: boolean;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'outbox, inbox, jobs, audit',
    sql: `
      CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id   TEXT NOT NULL UNIQUE,
        topic      TEXT NOT NULL,
        type       TEXT NOT NULL,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE inbox (
        message_id TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE jobs (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT NOT NULL,
        payload    TEXT NOT NULL,
        priority   INTEGER NOT NULL DEFAULT 0,
        state      TEXT NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'running', 'dead')),
        run_at     INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 8,
        last_error TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX jobs_due ON jobs (state, priority DESC, run_at);
      CREATE TABLE audit (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT
      );`,
  },
  {
    version: 2,
    description: 'index outbox.created_at: `kiosk queue` finds the oldest event without scanning the outbox',
    sql: `CREATE INDEX outbox_created_at ON outbox (created_at);`,
  },
  {
    version: 3,
    description: 'card vault: sealed pickup manifest, card inventory (one state per card), data updates',
    // No PII in clear: the ID number is only a keyed hash (id_lookup), everything else is sealed to
    // the kiosk's X25519 key. A card holds a slot exactly while it is in the slot, at the chip
    // station or in the tray (it returns to that slot); one card per slot.
    sql: `
      CREATE TABLE vault_manifest (
        pickup_id TEXT PRIMARY KEY,
        id_lookup TEXT NOT NULL,
        sealed    TEXT NOT NULL,
        state     TEXT NOT NULL DEFAULT 'staged' CHECK (state IN ('staged', 'withdrawn')),
        staged_at INTEGER NOT NULL
      );
      CREATE INDEX vault_manifest_lookup ON vault_manifest (id_lookup);
      CREATE TABLE vault_cards (
        pickup_id  TEXT PRIMARY KEY REFERENCES vault_manifest (pickup_id),
        state      TEXT NOT NULL
                   CHECK (state IN ('in-slot', 'at-station', 'in-tray', 'dispensed', 'captured', 'withdrawn')),
        slot       INTEGER CHECK (slot IS NULL OR slot >= 0),
        updated_at INTEGER NOT NULL,
        CHECK ((state IN ('in-slot', 'at-station', 'in-tray')) = (slot IS NOT NULL))
      );
      CREATE UNIQUE INDEX vault_cards_slot ON vault_cards (slot) WHERE slot IS NOT NULL;
      CREATE TABLE data_updates (
        tracking_code TEXT PRIMARY KEY,
        id_lookup     TEXT NOT NULL,
        state         TEXT NOT NULL
                      CHECK (state IN ('submitted', 'received', 'approved', 'rejected', 'pending')),
        note          TEXT,
        submitted_at  INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
      );`,
  },
  {
    version: 4,
    description: 'nonces of signed inbound messages (kept until they expire); retention indexes',
    // A nonce is remembered in the transaction that applies its message and forgotten once the
    // message has expired (no copy of it can pass the expiry check any more). The indexes let
    // retention prune inbox, audit and nonces by age without scanning.
    sql: `
      CREATE TABLE message_nonces (
        nonce      TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX message_nonces_expiry ON message_nonces (expires_at);
      CREATE INDEX inbox_applied_at ON inbox (applied_at);
      CREATE INDEX audit_at ON audit (at);`,
  },
  {
    version: 5,
    description: 'failed fingers per pickup (and per decoy ID), persisted across sessions and restarts',
    // subject: 'pickup:<pickup id>' for a staged pickup, 'id:<keyed hash>' / 'code:<keyed hash>' for
    // a decoy (an ID or code with no card waiting): no ID number in clear. locked_at: set once the
    // count reached the configured limit; staff release a locked pickup (`kiosk pickup release`).
    sql: `
      CREATE TABLE finger_failures (
        subject    TEXT PRIMARY KEY,
        pickup_id  TEXT,
        failures   INTEGER NOT NULL CHECK (failures >= 0),
        locked_at  INTEGER,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;`,
  },
  {
    version: 6,
    description:
      'dispenser move journal and vault-load intents: what the mechanics were told before each move',
    // Written BEFORE each move (src/kiosk/reconcile.ts): after a crash or a board reset, the host
    // reconciles these with the board's sensors instead of guessing where a card went. One row in
    // the journal (the last move); one intent per slot a `kiosk vault load` is working on.
    sql: `
      CREATE TABLE dispenser_journal (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        op         TEXT NOT NULL CHECK (op IN ('moveToStation', 'present', 'retract', 'returnToSlot')),
        slot       INTEGER,
        pickup_id  TEXT,
        outcome    TEXT NOT NULL CHECK (outcome IN ('sent', 'done', 'no-card', 'failed')),
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE vault_load_intents (
        slot       INTEGER PRIMARY KEY CHECK (slot >= 0),
        phase      TEXT NOT NULL CHECK (phase IN ('out', 'identified', 'unidentified')),
        pickup_id  TEXT REFERENCES vault_manifest (pickup_id),
        updated_at INTEGER NOT NULL,
        CHECK ((phase = 'identified') = (pickup_id IS NOT NULL))
      );`,
  },
  {
    version: 7,
    description:
      'manifest resyncs the kiosk asked the registry for (src/kiosk/manifest-resync.ts); no jobs table',
    // `requested_at` splits what the kiosk held when it asked (the registry's list speaks for it)
    // from what was staged since; `reconciled_at` makes a second list for one request a no-op.
    // The jobs table goes: nothing ever queued a job (all deferred delivery is the outbox's), and
    // the runner that polled it is gone (issue 13).
    sql: `
      CREATE TABLE manifest_resyncs (
        request_id    TEXT PRIMARY KEY,
        requested_at  INTEGER NOT NULL,
        requested_by  TEXT NOT NULL,
        reconciled_at INTEGER
      ) WITHOUT ROWID;
      DROP TABLE jobs;`,
  },
  {
    version: 8,
    description: 'corrupt store files moved aside, and whether their fault.storage was reported',
    // src/store/recovery.ts: the move comes first, the report second; a copy found without its row
    // (a crash in between) is reported at the next start. moved_to is a file name, never a path.
    sql: `
      CREATE TABLE store_faults (
        moved_to    TEXT PRIMARY KEY,
        corruption  TEXT NOT NULL,
        moved_at    INTEGER NOT NULL,
        reported_at INTEGER NOT NULL
      ) WITHOUT ROWID;`,
  },
  {
    version: 9,
    description: "a command's answer, kept with its inbox row until the broker has it",
    // src/fleet/fleet.ts: a command that commits while the link is down (its answer cannot go out)
    // is redelivered by the broker once the link is back; that copy is answered with the kept
    // answer, not refused as a replay of itself. NULL once the answer reached the broker.
    sql: `ALTER TABLE inbox ADD COLUMN answer TEXT;`,
  },
  {
    version: 10,
    description: 'inbound messages set aside after their handler failed every try',
    additive: true,
    // src/link/set-aside.ts: kept, not lost, so that one message no handler can apply does not keep
    // the link hanging up and reconnecting for it. The payload is the signed message as received (pseudonymous
    // ids and sealed secrets only); failure is an error name, never its text.
    sql: `
      CREATE TABLE inbox_set_aside (
        message_id   TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        topic_leaf   TEXT NOT NULL,
        failure      TEXT NOT NULL,
        attempts     INTEGER NOT NULL,
        payload      BLOB NOT NULL,
        set_aside_at INTEGER NOT NULL
      ) WITHOUT ROWID;`,
  },
];

export const LATEST_VERSION = migrations.at(-1)?.version ?? 0;

export class SchemaTooNew extends Error {
  override readonly name = 'SchemaTooNew';
  constructor(readonly found: number) {
    super(`database schema version ${found} is newer than this runtime knows (${LATEST_VERSION})`);
  }
}

/** Applies the pending steps up to `target` (default: all). Returns the versions applied. */
export async function migrate(
  db: SqliteDatabase,
  target: number = LATEST_VERSION,
  steps: readonly Migration[] = migrations,
): Promise<number[]> {
  const row = await db.get<{ user_version: number }>('PRAGMA user_version');
  const current = row?.user_version ?? 0;
  if (current > LATEST_VERSION) throw new SchemaTooNew(current);
  const added = await additionsIn(db);
  const applied: number[] = [];
  for (const step of steps) {
    if (step.version <= current || added.has(step.version) || step.version > target) continue;
    await db.exec('BEGIN IMMEDIATE');
    try {
      await db.exec(step.sql);
      await recordStep(db, step);
      await db.exec('COMMIT');
    } catch (error) {
      await db.exec('ROLLBACK').catch(() => undefined);
      throw error;
    }
    applied.push(step.version);
  }
  return applied;
}

async function recordStep(db: SqliteDatabase, step: Migration): Promise<void> {
  if (!step.additive) {
    await db.exec(`PRAGMA user_version = ${step.version}`);
    return;
  }
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_additions (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  await db.run('INSERT INTO schema_additions (version, applied_at) VALUES (?, ?)', [
    step.version,
    Date.now(),
  ]);
}

/** The additive steps already applied (none before the first one made the table). */
async function additionsIn(db: SqliteDatabase): Promise<Set<number>> {
  const table = await db.get<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_additions'",
  );
  if (!table) return new Set();
  const rows = await db.all<{ version: number }>('SELECT version FROM schema_additions');
  return new Set(rows.map((added) => added.version));
}

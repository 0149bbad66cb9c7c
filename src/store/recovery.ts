/**
 * Boot-time recovery of the store file (issue 13, "storage faults handled in the order they
 * happen"). The file is checked BEFORE anything reads it — the pushed settings that the runtime is
 * built from live in it — and a corrupt one is moved aside (kept, 0600, for staff to analyse) so
 * the kiosk starts on a fresh store instead of crashing or reading garbage.
 *
 * The move is the first thing done and the report is the second: the moved-aside file's name
 * carries the time and what SQLite said, and the store reports every moved-aside file it has not
 * reported yet (table `store_faults`) once it is open. A crash between the move and the report
 * therefore loses nothing: the next start reports it.
 *
 * A fresh store is a lost store to the fleet room (its id is not the one the security state beside
 * the keys names), so the kiosk also reports `store-replaced` and stays out of service, locked if it
 * was, until operations re-establish its state (src/fleet/state-file.ts).
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../util/log.js';
import { PRIVATE_FILE_MODE } from '../util/private-files.js';
import { SqliteDatabase, sqliteCode } from './sqlite.js';

/** What showed the file corrupt: the error SQLite returned, or `PRAGMA quick_check` finding faults. */
export type Corruption = 'SQLITE_CORRUPT' | 'SQLITE_NOTADB' | 'quick_check';

/** Moved-aside copies kept; older ones are deleted so a corruption loop cannot fill the disk. */
export const MAX_MOVED_ASIDE = 3;

const SIDE_FILES = ['', '-wal', '-shm'] as const;
const SLUGS: Record<Corruption, string> = {
  SQLITE_CORRUPT: 'corrupt',
  SQLITE_NOTADB: 'notadb',
  quick_check: 'quickcheck',
};

export interface MovedAside {
  /** the moved-aside file's name (in the store's directory; no path, so nothing about the host) */
  name: string;
  corruption: Corruption | 'unknown';
  at: number;
}

/**
 * Opens `file` and runs `PRAGMA quick_check` (O(N), no index cross-check: fast enough for every
 * boot on a store capped at a few tens of MB). Returns what is wrong, or undefined when the file is
 * missing, empty (a new store) or sound. Other errors (permissions, I/O) are not corruption: they
 * are thrown, and the kiosk must not move away a file it merely cannot read.
 */
export async function inspectStoreFile(file: string): Promise<Corruption | undefined> {
  if (!existsSync(file) || statSync(file).size === 0) return undefined;
  let db: SqliteDatabase | undefined;
  try {
    db = await SqliteDatabase.open(file);
    const rows = await db.all<{ quick_check: string }>('PRAGMA quick_check');
    return rows.length === 1 && rows[0]?.quick_check === 'ok' ? undefined : 'quick_check';
  } catch (error) {
    const code = sqliteCode(error);
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return code;
    throw error;
  } finally {
    await db?.close().catch(() => undefined);
  }
}

/**
 * Checks `file` and, when it is corrupt, moves it (with its WAL and shared-memory files) aside.
 * Returns what was moved, or undefined when the file is sound. Logs only the code and the name.
 */
export async function recoverStoreFile(
  file: string,
  log: Logger,
  now: () => number = Date.now,
): Promise<MovedAside | undefined> {
  const corruption = await inspectStoreFile(file);
  if (!corruption) return undefined;
  const moved = moveAside(file, corruption, now());
  log.error(
    { code: corruption, movedTo: moved.name },
    'store: database file is corrupt; moved aside and kept for staff; a fresh store is opened',
  );
  pruneMovedAside(file, log);
  return moved;
}

/** Renames the database and its WAL/SHM files to `<file>.corrupt-<time>-<slug>`, 0600, durably. */
export function moveAside(file: string, corruption: Corruption, at: number): MovedAside {
  const stamp = new Date(at).toISOString().replace(/[:.]/g, '-');
  let name = `${basename(file)}.corrupt-${stamp}-${SLUGS[corruption]}`;
  const directory = dirname(file);
  for (let n = 2; existsSync(join(directory, name)); n++)
    name = `${basename(file)}.corrupt-${stamp}.${n}-${SLUGS[corruption]}`;
  for (const suffix of SIDE_FILES) {
    if (!existsSync(file + suffix)) continue;
    const target = join(directory, name + suffix);
    renameSync(file + suffix, target);
    // it holds what the store held (sealed secrets, pseudonymous ids): the kiosk's user only
    chmodSync(target, PRIVATE_FILE_MODE);
  }
  // the rename is durable before a fresh file takes the old name
  const handle = openSync(directory, 'r');
  try {
    fsyncSync(handle);
  } finally {
    closeSync(handle);
  }
  return { name, corruption, at };
}

/** The moved-aside copies of `file` in its directory, oldest first (their names sort by time). */
export function listMovedAside(file: string): MovedAside[] {
  const prefix = `${basename(file)}.corrupt-`;
  const pattern = /^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z)(?:\.\d+)?-([a-z]+)$/;
  const found: MovedAside[] = [];
  for (const name of readdirSync(dirname(file)).sort()) {
    if (!name.startsWith(prefix)) continue;
    const match = pattern.exec(name.slice(prefix.length));
    if (!match?.[1] || !match[2]) continue;
    const [date, time] = match[1].split('T') as [string, string];
    const at = Date.parse(`${date}T${time.replace(/^(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/, '$1:$2:$3.$4Z')}`);
    const corruption = (Object.keys(SLUGS) as Corruption[]).find((key) => SLUGS[key] === match[2]);
    found.push({ name, corruption: corruption ?? 'unknown', at: Number.isNaN(at) ? 0 : at });
  }
  return found;
}

function pruneMovedAside(file: string, log: Logger): void {
  const all = listMovedAside(file);
  for (const old of all.slice(0, Math.max(0, all.length - MAX_MOVED_ASIDE))) {
    for (const suffix of SIDE_FILES) rmSync(join(dirname(file), old.name + suffix), { force: true });
    log.warn(
      { file: old.name, n: MAX_MOVED_ASIDE },
      'store: oldest moved-aside database deleted (n newest kept)',
    );
  }
}

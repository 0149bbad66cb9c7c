/**
 * Failed fingers, counted per pickup across sessions and restarts (issue 12, "at the touchscreen").
 * Three wrong fingers ending a session used to leave the next session a fresh three: unlimited
 * tries. Now every failure is committed to the store before the screen moves on, and after
 * `lockAfter` failures the pickup is locked: the registry is told (`pickup.locked`, from the
 * outbox) and only staff release it (`kiosk vault release <pickup id>`, `pickup.released`).
 *
 * An ID or code with no card waiting gets a decoy finger step that always fails, and its
 * failures are counted here the same way under a keyed hash of what was typed, so the screens of
 * a known and an unknown ID stay alike up to the lock. Decoy rows expire after `decoyTtlMs` (there
 * is no pickup for staff to release); real locks never expire.
 */
import type { KioskConfig } from '../config/index.js';
import type { Store, Transaction } from '../store/index.js';

export interface FingerGuardOptions {
  /** failures of one pickup (over all its sessions) after which it is locked */
  lockAfter: number;
  /** how long the count of a decoy subject is kept after its last failure */
  decoyTtlMs: number;
}

/** A decoy's count is kept a day: long enough to outlast the ID rate limit's window many times. */
const DECOY_TTL_MS = 24 * 60 * 60_000;

export function fingerGuardOptions(config: KioskConfig): FingerGuardOptions {
  return { lockAfter: config.sessions.fingerLockAfter, decoyTtlMs: DECOY_TTL_MS };
}

/** Whose failures: a staged pickup, or a decoy subject (a keyed hash, never the ID in clear). */
export type FingerSubject = { kind: 'pickup'; pickupId: string } | { kind: 'decoy'; lookup: string };

export interface FailureCount {
  failures: number;
  locked: boolean;
}

/** The pickup is not locked (nothing to release). */
export class NotLocked extends Error {
  override readonly name = 'NotLocked';
}

function key(subject: FingerSubject): string {
  return subject.kind === 'pickup' ? `pickup:${subject.pickupId}` : `decoy:${subject.lookup}`;
}

export class FingerGuard {
  constructor(
    private readonly store: Store,
    private readonly options: FingerGuardOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Failures after which a pickup is locked (a pushed `sessions.fingerLockAfter` changes it). */
  get lockAfter(): number {
    return this.options.lockAfter;
  }

  set lockAfter(failures: number) {
    this.options.lockAfter = failures;
  }

  /** Attempts the subject has left before the lock (0 when locked). */
  async attemptsLeft(subject: FingerSubject): Promise<number> {
    const row = await this.store
      .read()
      .get<{ failures: number; updated_at: number }>(
        'SELECT failures, updated_at FROM finger_failures WHERE subject = ?',
        [key(subject)],
      );
    if (!row || this.expired(subject, row.updated_at)) return this.options.lockAfter;
    return Math.max(0, this.options.lockAfter - row.failures);
  }

  /**
   * Counts one failed finger, durably, before the citizen sees the result. The failure that reaches
   * the limit locks a real pickup and puts `pickup.locked` in the outbox in the same transaction.
   */
  recordFailure(subject: FingerSubject): Promise<FailureCount> {
    const at = this.now();
    return this.store.transaction(async (tx) => {
      await this.pruneDecoys(tx, at);
      const row = await tx.get<{ failures: number; locked_at: number | null }>(
        'SELECT failures, locked_at FROM finger_failures WHERE subject = ?',
        [key(subject)],
      );
      const failures = (row?.failures ?? 0) + 1;
      const locks = failures >= this.options.lockAfter && !row?.locked_at;
      await tx.run(
        `INSERT INTO finger_failures (subject, pickup_id, failures, locked_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures,
           locked_at = COALESCE(finger_failures.locked_at, excluded.locked_at), updated_at = excluded.updated_at`,
        [key(subject), subject.kind === 'pickup' ? subject.pickupId : null, failures, locks ? at : null, at],
      );
      if (locks && subject.kind === 'pickup') {
        await tx.audit('citizen', 'pickup.locked', { pickupId: subject.pickupId, failures });
        tx.emit({ type: 'pickup.locked', body: { pickupId: subject.pickupId, failures } });
      }
      return { failures, locked: failures >= this.options.lockAfter };
    });
  }

  /** Staff release a locked pickup: the count starts afresh, the registry hears of it. */
  release(pickupId: string, actor: string): Promise<void> {
    return this.store.transaction(async (tx) => {
      const result = await tx.run('DELETE FROM finger_failures WHERE subject = ? AND locked_at IS NOT NULL', [
        key({ kind: 'pickup', pickupId }),
      ]);
      if (result.changes !== 1) throw new NotLocked(`pickup ${pickupId} is not locked`);
      await tx.audit(actor, 'pickup.released', { pickupId });
      tx.emit({ type: 'pickup.released', body: { pickupId } });
    });
  }

  /** Locked pickups (what `kiosk vault status` lists for staff). */
  async locked(): Promise<Array<{ pickupId: string; failures: number; lockedAt: number }>> {
    const rows = await this.store.read().all<{ pickup_id: string; failures: number; locked_at: number }>(
      `SELECT pickup_id, failures, locked_at FROM finger_failures
           WHERE pickup_id IS NOT NULL AND locked_at IS NOT NULL ORDER BY locked_at`,
    );
    return rows.map((row) => ({ pickupId: row.pickup_id, failures: row.failures, lockedAt: row.locked_at }));
  }

  private expired(subject: FingerSubject, updatedAt: number): boolean {
    return subject.kind === 'decoy' && updatedAt <= this.now() - this.options.decoyTtlMs;
  }

  /** Decoy rows are bounded by the ID rate limit; expired ones go on the next write. */
  private async pruneDecoys(tx: Transaction, at: number): Promise<void> {
    await tx.run(`DELETE FROM finger_failures WHERE pickup_id IS NULL AND updated_at <= ?`, [
      at - this.options.decoyTtlMs,
    ]);
  }
}

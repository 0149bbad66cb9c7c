/**
 * Inbound messages that no handler can apply. A message whose handler fails is handed back for
 * redelivery (link.ts `handBack`: the link hangs up and reconnects for it). One message that fails
 * every time (a handler bug, data no code path expects) would so keep the link going down and up,
 * with backoff, for good. After `SET_ASIDE_AFTER_TRIES` failed tries it is set aside instead: kept
 * in the store, acknowledged, and reported to operations.
 *
 * Failures for want of storage (a full disk, the store closing) are never counted: they pass
 * when the store does, and the message waits for that however long it takes.
 */
import { sqliteCode, StoreClosed, StoreFull, type Transaction } from '../store/index.js';

/** Tries of one message before it is set aside; each is a redelivery after a reconnect with backoff. */
export const SET_ASIDE_AFTER_TRIES = 5;

/** Failed tries remembered at most (the oldest is forgotten first); only admitted messages count. */
const REMEMBERED_MESSAGES = 1000;

/**
 * Errors of the file system that pass when the machine recovers (a full disk, a disk gone
 * read-only or failing, no file handle left), not faults of a message: errno(3) names.
 */
const ENVIRONMENT_ERRNO_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM']);

/**
 * A failure of the store or the disk under it rather than of the message, also when a handler
 * wrapped it (its `cause`): retried for as long as it takes.
 */
export function isStorageFailure(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof StoreFull || current instanceof StoreClosed || sqliteCode(current) !== undefined)
      return true;
    const code = (current as NodeJS.ErrnoException).code;
    if (code !== undefined && ENVIRONMENT_ERRNO_CODES.has(code)) return true;
    current = current.cause;
  }
  return false;
}

/** Failed tries per message id, in memory: a restart starts the count again, which only delays. */
export class FailedTries {
  private readonly tries = new Map<string, number>();

  /** Counts one more failed try of `messageId`; true when it has now failed too often. */
  failedTooOften(messageId: string): boolean {
    const count = (this.tries.get(messageId) ?? 0) + 1;
    this.tries.delete(messageId); // re-inserted last: the map's order is least recently failed first
    this.tries.set(messageId, count);
    if (this.tries.size > REMEMBERED_MESSAGES) this.tries.delete(this.tries.keys().next().value ?? '');
    return count >= SET_ASIDE_AFTER_TRIES;
  }

  triesOf(messageId: string): number {
    return this.tries.get(messageId) ?? 0;
  }

  forget(messageId: string): void {
    this.tries.delete(messageId);
  }
}

export interface SetAsideMessage {
  messageId: string;
  messageType: string;
  topicLeaf: string;
  /** the error's name only: an error's text may quote the data it choked on */
  failure: string;
  attempts: number;
  payload: Buffer;
}

/** Keeps the message, marks it handled (a redelivery is a duplicate) and tells operations, in `tx`. */
export async function recordSetAside(tx: Transaction, message: SetAsideMessage, now: number): Promise<void> {
  await tx.markApplied(message.messageId, message.messageType);
  await tx.run(
    `INSERT OR IGNORE INTO inbox_set_aside
       (message_id, kind, topic_leaf, failure, attempts, payload, set_aside_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
    [
      message.messageId,
      message.messageType,
      message.topicLeaf,
      message.failure,
      message.attempts,
      message.payload,
      now,
    ],
  );
  const report = {
    messageId: message.messageId,
    messageType: message.messageType,
    failure: message.failure,
    attempts: message.attempts,
  };
  tx.emit({ type: 'inbound.setAside', body: report });
  await tx.audit('link', 'inbound.setAside', report);
}

/** The name of an error, safe to store and report (never its message). */
export function failureName(error: unknown): string {
  const name = error instanceof Error ? error.name : typeof error;
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name) ? name : 'Error';
}

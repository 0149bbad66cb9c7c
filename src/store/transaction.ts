/** The transaction the store hands its callers, and the outbox event they emit in it. */
import type { RunResult, SqlParams } from './sqlite.js';

/** An event to put in the outbox; `id` defaults to a fresh UUID (the registry dedupes by it). */
export interface OutboxEventInput {
  type: string;
  body: unknown;
  id?: string;
  topic?: string;
}

/**
 * What a transaction may do. `emit` is buffered and written in the same transaction as the
 * caller's state change, so "changed the state but forgot the event" cannot happen: both commit
 * or neither does.
 */
export interface Transaction {
  run(sql: string, params?: SqlParams): Promise<RunResult>;
  get<Row>(sql: string, params?: SqlParams): Promise<Row | undefined>;
  all<Row>(sql: string, params?: SqlParams): Promise<Row[]>;
  emit(event: OutboxEventInput): string;
  /**
   * Says this transaction deleted personal data: after the commit the WAL is checkpointed and
   * truncated (with `secure_delete` on, the deleted bytes are zeroed in the database file), before
   * the caller hears of the commit.
   */
  purged(): void;
  /** Records that inbound message `id` is applied; false if it already was (a redelivery). */
  markApplied(messageId: string, kind: string): Promise<boolean>;
  audit(actor: string, action: string, detail?: Record<string, unknown>): Promise<void>;
}

/**
 * Refused inbound messages are counted, not stored one by one: an attacker who can publish must not
 * be able to fill the disk or the registry's event table. Each window (default one minute) with
 * refusals becomes ONE `security.refused` outbox event and one audit row with counts per reason;
 * the log gets at most one line per reason per window. Replies to refused commands (`cmd/result`)
 * are limited per window too: past the budget they are only counted.
 */
import type { RefusalReason } from '../link/messages.js';
import type { Store } from '../store/index.js';
import type { Logger } from '../util/log.js';

export interface RefusalLedgerOptions {
  store: Store;
  log: Logger;
  /** length of a summary window (ms) */
  windowMs: number;
  /** refusal replies (`cmd/result`) sent per window at most */
  repliesPerWindow: number;
  now?: () => number;
}

export class RefusalLedger {
  private counts = new Map<RefusalReason, number>();
  private windowStart: number;
  private replies = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** refusals since start, by reason (for diagnostics and tests) */
  readonly totals = new Map<RefusalReason, number>();

  constructor(private readonly options: RefusalLedgerOptions) {
    this.windowStart = this.now();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.windowMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Counts one refusal; logs the first of each reason in the window. */
  note(reason: RefusalReason, where: string): void {
    const seen = this.counts.get(reason) ?? 0;
    this.counts.set(reason, seen + 1);
    this.totals.set(reason, (this.totals.get(reason) ?? 0) + 1);
    if (seen === 0)
      this.options.log.warn({ reason, where }, 'security: inbound message refused (more are summarised)');
  }

  /** True while this window's budget of refusal replies lasts. */
  mayReply(): boolean {
    if (this.replies >= this.options.repliesPerWindow) return false;
    this.replies++;
    return true;
  }

  /** Writes the window's summary (if any) as one event + one audit row, and opens a new window. */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.writeSummary());
    this.flushing = run.catch((error: unknown) =>
      this.options.log.warn({ err: (error as Error).message }, 'security: refusal summary not written'),
    );
    return this.flushing;
  }

  private async writeSummary(): Promise<void> {
    const counts = Object.fromEntries(this.counts) as Partial<Record<RefusalReason, number>>;
    const from = new Date(this.windowStart).toISOString();
    const until = new Date(this.now()).toISOString();
    this.counts = new Map();
    this.replies = 0;
    this.windowStart = this.now();
    if (Object.keys(counts).length === 0) return;
    await this.options.store.transaction(async (tx) => {
      await tx.audit('security', 'inbound.refused', { counts });
      tx.emit({ type: 'security.refused', body: { from, until, counts } });
    });
  }
}

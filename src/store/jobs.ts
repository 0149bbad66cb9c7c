import { type BackoffPolicy, fullJitterDelay } from '../util/backoff.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import type { SqliteDatabase } from './sqlite.js';
import type { JobInput, JobRow, JobState, Transaction } from './transaction.js';

export type { JobInput, JobRow, JobState } from './transaction.js';

/** What the job rows need of the store (kept narrow so jobs.ts does not import store.ts). */
export interface JobDatabase {
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  read(): SqliteDatabase;
}

/** Job rows in the store: claim, finish, fail with backoff, dead letters, crash recovery. */
export class JobStore {
  constructor(
    private readonly store: JobDatabase,
    private readonly now: () => number,
  ) {}

  async insert(tx: Transaction, job: JobInput): Promise<number> {
    const now = this.now();
    const result = await tx.run(
      'INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [job.kind, JSON.stringify(job.payload), job.priority ?? 0, job.runAt ?? now, job.maxAttempts ?? 8, now],
    );
    return result.lastID;
  }

  add(job: JobInput): Promise<number> {
    return this.store.transaction((tx) => this.insert(tx, job));
  }

  /** Marks the most urgent due job running and returns it (the "lease"); undefined if none is due. */
  claimDue(): Promise<JobRow | undefined> {
    return this.store.transaction((tx) =>
      tx.get<JobRow>(
        `UPDATE jobs SET state = 'running', attempts = attempts + 1
         WHERE id = (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= ?
                     ORDER BY priority DESC, run_at, id LIMIT 1)
         RETURNING *`,
        [this.now()],
      ),
    );
  }

  complete(id: number): Promise<void> {
    return this.store.transaction(async (tx) => {
      await tx.run('DELETE FROM jobs WHERE id = ?', [id]);
    });
  }

  /**
   * A failed attempt: due again after a full-jitter backoff, or dead once its attempts are spent.
   * Returns the new state.
   */
  fail(job: JobRow, reason: string, backoff: BackoffPolicy, random?: () => number): Promise<JobState> {
    const dead = job.attempts >= job.max_attempts;
    const runAt = this.now() + fullJitterDelay(job.attempts - 1, backoff, random);
    return this.store.transaction(async (tx) => {
      await tx.run('UPDATE jobs SET state = ?, run_at = ?, last_error = ? WHERE id = ?', [
        dead ? 'dead' : 'pending',
        runAt,
        reason.slice(0, 500),
        job.id,
      ]);
      return dead ? 'dead' : 'pending';
    });
  }

  /**
   * At start: a job still `running` was interrupted by a crash. Its attempt counts (a job that
   * crashes the process must not loop forever); it is due again, or dead if out of attempts.
   */
  recoverInterrupted(): Promise<number> {
    return this.store.transaction(async (tx) => {
      const result = await tx.run(
        `UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
           last_error = COALESCE(last_error, 'interrupted by a restart'), run_at = ?
         WHERE state = 'running'`,
        [this.now()],
      );
      return result.changes;
    });
  }

  list(state?: JobState, limit = 100): Promise<JobRow[]> {
    return state
      ? this.store
          .read()
          .all<JobRow>('SELECT * FROM jobs WHERE state = ? ORDER BY id LIMIT ?', [state, limit])
      : this.store.read().all<JobRow>('SELECT * FROM jobs ORDER BY id LIMIT ?', [limit]);
  }

  /** Operator action: a dead job gets a fresh set of attempts, due now. */
  retry(id: number): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      const result = await tx.run(
        `UPDATE jobs SET state = 'pending', attempts = 0, run_at = ? WHERE id = ? AND state = 'dead'`,
        [this.now(), id],
      );
      if (result.changes === 1) await tx.audit('technician', 'job.retry', { id });
      return result.changes === 1;
    });
  }

  /** Operator action: a dead job is dropped. */
  discard(id: number): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      const result = await tx.run(`DELETE FROM jobs WHERE id = ? AND state = 'dead'`, [id]);
      if (result.changes === 1) await tx.audit('technician', 'job.discard', { id });
      return result.changes === 1;
    });
  }
}

export type JobHandler = (payload: unknown, job: JobRow) => Promise<void>;

export interface JobRunnerOptions {
  jobs: JobStore;
  handlers: ReadonlyMap<string, JobHandler>;
  backoff: BackoffPolicy;
  pollMs: number;
  log: Logger;
  random?: () => number;
}

/** Runs due jobs one at a time; a throwing handler schedules a retry, never crashes the runtime. */
export class JobRunner implements Service {
  readonly name = 'jobs';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly options: JobRunnerOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runDue()
        .then(() => undefined)
        .catch((error: unknown) => this.options.log.error({ err: error }, 'jobs: run failed'))
        .finally(() => this.schedule(this.options.pollMs));
    }, ms);
  }

  /** Runs every job that is due now; returns how many ran. */
  async runDue(): Promise<number> {
    let ran = 0;
    for (;;) {
      const job = await this.options.jobs.claimDue();
      if (!job) return ran;
      ran++;
      const handler = this.options.handlers.get(job.kind);
      try {
        if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
        await handler(JSON.parse(job.payload) as unknown, job);
        await this.options.jobs.complete(job.id);
      } catch (error) {
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : 'failed';
        const state = await this.options.jobs.fail(job, reason, this.options.backoff, this.options.random);
        this.options.log.warn(
          { job: job.id, kind: job.kind, attempts: job.attempts, state },
          'jobs: attempt failed',
        );
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  health(): Health {
    return { state: this.stopped ? 'stopped' : 'up' };
  }
}

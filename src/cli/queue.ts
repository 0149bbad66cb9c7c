import { join } from 'node:path';
import type { KioskConfig } from '../config/index.js';
import { topics } from '../link/topics.js';
import { type JobRow, Store } from '../store/index.js';
import { createLogger } from '../util/log.js';

export interface QueueReport {
  outbox: { depth: number; oldestAgeSeconds: number | null };
  jobs: { pending: number; running: number; dead: number };
  deadLetters: Array<{
    id: number;
    kind: string;
    attempts: number;
    lastError: string | null;
    createdAt: string;
  }>;
}

/** `kiosk queue`: what waits in the kiosk's store, and the technician's retry/discard of a dead job. */
/** The kiosk's store opened by a CLI tool beside the (maybe running) kiosk: quiet, no recovery. */
export async function openToolStore(config: KioskConfig): Promise<Store> {
  const store = new Store({
    file: join(config.dataDir, 'kiosk.sqlite'),
    synchronous: config.store.synchronous,
    defaultTopic: topics.events(config.kiosk.id),
    log: createLogger({ level: 'warn', pretty: false }),
    forTool: true,
  });
  await store.start();
  return store;
}

export async function runQueueCommand(
  config: KioskConfig,
  action: 'status' | 'retry' | 'discard',
  jobId: number | undefined,
  json: boolean,
): Promise<number> {
  const store = await openToolStore(config);
  try {
    if (action !== 'status') {
      if (jobId === undefined) throw new Error(`kiosk queue ${action} needs a job id`);
      const done = action === 'retry' ? await store.jobs.retry(jobId) : await store.jobs.discard(jobId);
      const text = done
        ? `job ${jobId}: ${action === 'retry' ? 'due again' : 'discarded'}`
        : `job ${jobId}: no such dead job`;
      process.stdout.write(json ? `${JSON.stringify({ jobId, action, done })}\n` : `${text}\n`);
      return done ? 0 : 1;
    }
    const stats = await store.outboxStats();
    const counts = await store
      .read()
      .all<{ state: JobRow['state']; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state');
    const dead = await store.jobs.list('dead');
    const report: QueueReport = {
      outbox: {
        depth: stats.depth,
        oldestAgeSeconds:
          stats.oldestCreatedAt === null ? null : Math.round((Date.now() - stats.oldestCreatedAt) / 1000),
      },
      jobs: {
        pending: counts.find((row) => row.state === 'pending')?.n ?? 0,
        running: counts.find((row) => row.state === 'running')?.n ?? 0,
        dead: counts.find((row) => row.state === 'dead')?.n ?? 0,
      },
      deadLetters: dead.map((job) => ({
        id: job.id,
        kind: job.kind,
        attempts: job.attempts,
        lastError: job.last_error,
        createdAt: new Date(job.created_at).toISOString(),
      })),
    };
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      const age = report.outbox.oldestAgeSeconds;
      process.stdout.write(
        [
          `outbox: ${report.outbox.depth} event(s) waiting${age === null ? '' : `, oldest ${age} s old`}`,
          `jobs: ${report.jobs.pending} pending, ${report.jobs.running} running, ${report.jobs.dead} dead`,
          ...report.deadLetters.map(
            (job) =>
              `  dead job ${job.id} (${job.kind}): ${job.attempts} attempts; last error: ${job.lastError ?? '-'}`,
          ),
          '',
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await store.stop();
  }
}

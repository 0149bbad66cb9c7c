import { join } from 'node:path';
import type { KioskConfig } from '../config/index.js';
import { topics } from '../link/topics.js';
import { Store } from '../store/index.js';
import { createLogger } from '../util/log.js';

export interface QueueReport {
  outbox: { depth: number; oldestAgeSeconds: number | null };
}

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

/**
 * `kiosk queue`: what waits in the kiosk's store for the broker. All deferred delivery is the
 * outbox's (events, update submissions, resync requests), retried until the broker acknowledges.
 */
export async function runQueueCommand(config: KioskConfig, json: boolean): Promise<number> {
  const store = await openToolStore(config);
  try {
    const stats = await store.outboxStats();
    const report: QueueReport = {
      outbox: {
        depth: stats.depth,
        oldestAgeSeconds:
          stats.oldestCreatedAt === null ? null : Math.round((Date.now() - stats.oldestCreatedAt) / 1000),
      },
    };
    const age = report.outbox.oldestAgeSeconds;
    process.stdout.write(
      json
        ? `${JSON.stringify(report)}\n`
        : `outbox: ${report.outbox.depth} event(s) waiting${age === null ? '' : `, oldest ${age} s old`}\n`,
    );
    return 0;
  } finally {
    await store.stop();
  }
}

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import { quietLogger } from '../../helpers/logs.js';
import { KIOSK_CLI, ROOT } from '../../helpers/processes.js';

const run = promisify(execFile);
const kiosk = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', KIOSK_CLI, ...args], { cwd: ROOT });

describe('kiosk queue', () => {
  it('reports depth, oldest age and dead letters, and retries or discards a dead job', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'queue-cli-'));
    const configFile = join(dir, 'kiosk.json');
    writeFileSync(
      configFile,
      JSON.stringify({ kiosk: { id: 'queue-0001' }, mqtt: { url: 'mqtt://127.0.0.1:1' }, dataDir: dir }),
    );
    const store = new Store({
      file: join(dir, 'kiosk.sqlite'),
      synchronous: 'FULL',
      defaultTopic: 'cccd/v1/kiosk/queue-0001/events',
      log: quietLogger(),
      now: () => Date.now() - 120_000,
    });
    await store.start();
    await store.transaction(async (tx) => {
      for (let n = 0; n < 3; n++)
        tx.emit({ type: 'pickup.completed', body: { pickupId: `q-${n}`, slot: n } });
    });
    const deadId = await store.transaction(async (tx) => {
      const id = await tx.addJob({ kind: 'print-receipt', payload: {}, maxAttempts: 1 });
      await tx.run(
        "UPDATE jobs SET state = 'dead', attempts = 1, last_error = 'Error: paper out' WHERE id = ?",
        [id],
      );
      return id;
    });
    await store.stop();

    const json = JSON.parse((await kiosk('queue', '--config', configFile, '--json')).stdout) as {
      outbox: { depth: number; oldestAgeSeconds: number };
      jobs: { dead: number };
      deadLetters: Array<{ id: number; lastError: string }>;
    };
    expect(json.outbox.depth).toBe(3);
    expect(json.outbox.oldestAgeSeconds).toBeGreaterThanOrEqual(119);
    expect(json.jobs.dead).toBe(1);
    expect(json.deadLetters).toMatchObject([{ id: deadId, lastError: 'Error: paper out' }]);

    const text = (await kiosk('queue', '--config', configFile)).stdout;
    expect(text).toMatch(/outbox: 3 event\(s\) waiting, oldest \d+ s old/);
    expect(text).toContain(`dead job ${deadId} (print-receipt)`);

    expect((await kiosk('queue', 'retry', String(deadId), '--config', configFile)).stdout).toContain(
      'due again',
    );
    const after = JSON.parse((await kiosk('queue', '--config', configFile, '--json')).stdout) as {
      jobs: { pending: number; dead: number };
    };
    expect(after.jobs).toMatchObject({ pending: 1, dead: 0 });
    await expect(kiosk('queue', 'discard', String(deadId), '--config', configFile)).rejects.toMatchObject({
      code: 1,
    });
  });
});

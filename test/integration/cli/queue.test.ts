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
  it('reports the outbox depth and the age of its oldest event', async () => {
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
    await store.stop();

    const json = JSON.parse((await kiosk('queue', '--config', configFile, '--json')).stdout) as {
      outbox: { depth: number; oldestAgeSeconds: number };
    };
    expect(json.outbox.depth).toBe(3);
    expect(json.outbox.oldestAgeSeconds).toBeGreaterThanOrEqual(119);

    const text = (await kiosk('queue', '--config', configFile)).stdout;
    expect(text).toMatch(/outbox: 3 event\(s\) waiting, oldest \d+ s old/);
  });
});

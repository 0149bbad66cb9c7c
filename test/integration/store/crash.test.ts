import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { describe, expect, it } from 'vitest';
import { ReferenceRegistry } from '../../../src/registry/registry.js';
import { quietLogger } from '../../helpers/logs.js';
import { ROOT } from '../../helpers/processes.js';

// `npm test` runs a short variant; `npm run test:crash` runs the 10,000 events and 20 kills.
const TOTAL = Number(process.env.CRASH_EVENTS ?? 1000);
const KILLS = Number(process.env.CRASH_KILLS ?? 5);
const PRODUCER = join(ROOT, 'test', 'fixtures', 'producer.ts');

function startProducer(configFile: string, rate: number) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', PRODUCER, configFile, String(TOTAL), String(rate)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  let produced = 0;
  const lineWaiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    const last = [...output.matchAll(/produced=(\d+)/g)].at(-1);
    if (last?.[1]) produced = Number(last[1]);
    output = output.slice(-4000);
    for (const waiter of lineWaiters) waiter();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = (pattern: RegExp, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${pattern} in ${timeoutMs} ms:\n${output}`)),
        timeoutMs,
      );
      const check = () => {
        if (pattern.test(output)) {
          clearTimeout(timer);
          lineWaiters.delete(check);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer);
          lineWaiters.delete(check);
          reject(new Error(`producer exited before ${pattern}:\n${output}`));
        }
      };
      lineWaiters.add(check);
      check();
    });
  return { child, exited, waitFor, produced: () => produced };
}

describe('crash test: the kiosk killed with SIGKILL while it produces events', () => {
  it(
    `delivers all ${TOTAL} events exactly once and in order across ${KILLS} kills`,
    { timeout: 60_000 + KILLS * 15_000 + TOTAL * 20 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'crash-'));
      const url = inject('mosquittoUrl');
      const kioskId = `crash-${process.pid}`;
      const configFile = join(dir, 'kiosk.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          kiosk: { id: kioskId },
          mqtt: { url, protocolVersion: 5, keepaliveSeconds: 5, reconnect: { minMs: 100, maxMs: 1000 } },
          dataDir: join(dir, 'data'),
          ui: { port: 0 },
          log: { level: 'warn' },
        }),
      );
      const registry = new ReferenceRegistry({
        brokerUrl: url,
        databaseFile: join(dir, 'registry.sqlite'),
        log: quietLogger(),
      });
      await registry.start();
      // Production must outlast the kills: even if every life lasts the longest wait (1.25 s),
      // the kills together cannot produce all events, so each kill lands while producing.
      const rate = Math.floor(TOTAL / (KILLS * 1.3));
      let killsWhileProducing = 0;
      try {
        for (let kill = 0; kill < KILLS; kill++) {
          const producer = startProducer(configFile, rate);
          await producer.waitFor(/ready next=\d+/, 30_000);
          await new Promise((done) => setTimeout(done, 50 + Math.random() * 1200));
          if (producer.produced() < TOTAL) killsWhileProducing++;
          producer.child.kill('SIGKILL');
          await producer.exited;
        }
        const last = startProducer(configFile, rate);
        await last.waitFor(/drained/, 60_000 + TOTAL * 10);
        await last.exited;

        const deadline = Date.now() + 30_000;
        let counts = await registry.eventCounts(kioskId);
        while (counts.received < TOTAL && Date.now() < deadline) {
          await new Promise((done) => setTimeout(done, 200));
          counts = await registry.eventCounts(kioskId);
        }
        const seen: number[] = [];
        for (let after = 0; ;) {
          const page = await registry.events(kioskId, after, 1000);
          if (page.length === 0) break;
          for (const event of page)
            seen.push(Number(String((event.body as { pickupId: string }).pickupId).slice('crash-'.length)));
          after = page.at(-1)?.arrival ?? after;
        }
        const distinct = new Set(seen);
        const lost = TOTAL - distinct.size;
        console.log(
          `crash test: kills ${KILLS} (${killsWhileProducing} while producing), events produced ${TOTAL}, received ${counts.received}, duplicates removed by the registry ${counts.duplicates}, lost ${lost}`,
        );
        expect(killsWhileProducing).toBe(KILLS);
        expect(lost).toBe(0);
        expect(seen).toEqual(Array.from({ length: TOTAL }, (_, n) => n));
        expect(counts.outOfOrder).toBe(0);
      } finally {
        await registry.stop();
      }
    },
  );
});

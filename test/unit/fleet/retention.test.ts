/**
 * Bounded storage (issue 12, "Why" item 8): retention of inbox ids, audit rows and expired nonces
 * (config `store.retention`), and refusals summarised as one `security.refused` event + one audit row
 * per window. A real store file; the fleet service with a fixed clock.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { FleetService } from '../../../src/fleet/index.js';
import { Store } from '../../../src/store/index.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';

const DAY = 24 * 3600_000;
const NOW = Date.parse('2026-11-30T12:00:00Z');

describe('retention and refusal summaries', () => {
  let store: Store | undefined;
  let fleet: FleetService | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await store?.stop();
  });

  async function start(retention: Record<string, number>) {
    const dir = mkdtempSync(join(tmpdir(), 'retention-'));
    const config = parseConfig(
      {
        kiosk: { id: 'kiosk-0001' },
        mqtt: { url: 'mqtt://127.0.0.1:1' },
        dataDir: dir,
        store: { retention },
        fleet: { refusalSummaryMs: 60_000 },
      },
      'test',
    );
    const log = quietLogger();
    store = new Store({
      file: join(dir, 'kiosk.sqlite'),
      synchronous: 'NORMAL',
      defaultTopic: 'events',
      log,
      now: () => NOW,
    });
    await store.start();
    fleet = new FleetService({
      kioskId: 'kiosk-0001',
      baseConfig: config,
      store,
      bus: new EventBus<RuntimeEvents>(log),
      log,
      publish: () => Promise.resolve(),
      health: () => ({ healthy: true }),
      diagnostics: () => ({}),
      setLogLevel: () => undefined,
      now: () => NOW,
    });
    await fleet.start();
    return store;
  }

  it('deletes inbox ids, audit rows and nonces past their bounds, and keeps the rest', async () => {
    const db = await start({ inboxMs: 7 * DAY, auditMs: 30 * DAY, auditMaxRows: 100 });
    await db.transaction(async (tx) => {
      for (let i = 0; i < 10; i++) {
        await tx.run('INSERT INTO inbox (message_id, kind, applied_at) VALUES (?, ?, ?)', [
          `m-${i}`,
          'manifest.entry',
          i < 4 ? NOW - 8 * DAY : NOW - DAY,
        ]);
        await tx.run('INSERT INTO message_nonces (nonce, expires_at) VALUES (?, ?)', [
          `n-${i}`,
          i < 3 ? NOW - 1 : NOW + DAY,
        ]);
      }
      for (let i = 0; i < 150; i++)
        await tx.run('INSERT INTO audit (at, actor, action) VALUES (?, ?, ?)', [
          i < 20 ? NOW - 31 * DAY : NOW - DAY,
          'test',
          'row',
        ]);
    });
    const pruned = await fleet!.prune();
    expect(pruned).toEqual({ inbox: 4, audit: 50, nonces: 3 });
    const count = async (table: string) =>
      (await db.read().get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))?.n;
    expect(await count('inbox')).toBe(6);
    expect(await count('message_nonces')).toBe(7);
    expect(await count('audit')).toBe(100);
  });

  it('many refusals in a window are one security.refused event and one audit row', async () => {
    const db = await start({});
    const audit = async () => (await db.read().get<{ n: number }>('SELECT COUNT(*) AS n FROM audit'))?.n ?? 0;
    const outbox = async () =>
      (await db.read().get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox'))?.n ?? 0;
    const [auditBefore, outboxBefore] = [await audit(), await outbox()];
    for (let i = 0; i < 5000; i++) fleet!.refusals.note(i % 2 ? 'bad-signature' : 'unsigned', 'manifest');
    await fleet!.refusals.flush();
    expect(await audit()).toBe(auditBefore + 1);
    expect(await outbox()).toBe(outboxBefore + 1);
    const row = await db
      .read()
      .get<{ body: string }>(
        `SELECT body FROM outbox WHERE type = 'security.refused' ORDER BY seq DESC LIMIT 1`,
      );
    expect(JSON.parse(row?.body ?? '{}')).toMatchObject({
      counts: { 'bad-signature': 2500, unsigned: 2500 },
    });
    await fleet!.refusals.flush(); // an empty window writes nothing
    expect(await audit()).toBe(auditBefore + 1);
  });
});

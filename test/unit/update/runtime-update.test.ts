/**
 * The runtime's half of a software update (src/update/runtime-update.ts) around its two waits:
 * a staged release is switched to only when no citizen session is in progress (the session is a
 * plain IdleSource here), and the guard's rollbacks are reported through the outbox (a real SQLite
 * store) once, with ids that stay the same when a crash makes the kiosk report them again. The
 * whole path (download, guard, restart, kiosk-ops) is test/integration/update/runtime-update.test.ts.
 *
 * Also the watch for a technician's install (src/update/installed-release.ts): it restarts the
 * kiosk only at idle, only for an installed release that is not running, and never for a request
 * that was already there when it started (the guard did not take it: restarting would loop).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UPDATE_DEFAULTS } from '../../../src/config/update-schema.js';
import type { IdleSource } from '../../../src/runtime/restart.js';
import { Store } from '../../../src/store/index.js';
import { InstalledReleaseWatch } from '../../../src/update/installed-release.js';
import { requestSwitch } from '../../../src/update/releases.js';
import { RuntimeUpdate, unreportedRollbacksFile } from '../../../src/update/runtime-update.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';

class Session implements IdleSource {
  idle = false;
  private readonly listeners = new Set<() => void>();
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  end(): void {
    this.idle = true;
    for (const listener of [...this.listeners]) listener();
  }
}

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.stop()));
});

async function kiosk(order?: object) {
  const stateDir = mkdtempSync(join(tmpdir(), 'runtime-update-'));
  if (order) writeFileSync(join(stateDir, 'software-order.json'), JSON.stringify(order));
  const store = new Store({
    file: join(stateDir, 'kiosk.db'),
    synchronous: 'FULL',
    defaultTopic: 'events',
    log: quietLogger(),
  });
  await store.start();
  stores.push(store);
  const bus = new EventBus<RuntimeEvents>(quietLogger());
  const restarts: string[] = [];
  bus.on('test', 'fleet.restart', ({ by }) => void restarts.push(by));
  const session = new Session();
  const make = () =>
    new RuntimeUpdate({
      settings: { ...UPDATE_DEFAULTS, installRoot: join(stateDir, 'opt') },
      stateDir,
      store,
      sessions: session,
      bus,
      log: quietLogger(),
    });
  const outbox = async () =>
    (await store.outboxPage(0, 100)).map((row) => ({
      id: row.event_id,
      type: row.type,
      body: JSON.parse(row.body) as Record<string, unknown>,
    }));
  return { stateDir, session, restarts, make, outbox, store };
}

const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('runtime software update', () => {
  it('switches to a staged release only once the session in progress has ended', async () => {
    const { session, restarts, make, outbox, stateDir, store } = await kiosk({
      orderId: 'order-0001',
      version: '0.2.0',
      by: 'ops:test',
      status: 'staged',
    });
    const update = make();
    await update.start();
    // the session goes on: two store commits later (an ungated switch would have answered in the
    // first and restarted after it), still no answer and no restart
    for (const marker of ['marker-1', 'marker-2'])
      await store.enqueue({ type: 'test.marker', body: { marker } });
    expect((await outbox()).map((event) => event.type)).toEqual(['test.marker', 'test.marker']);
    expect(restarts).toEqual([]);
    session.end();
    await until(() => restarts.length > 0);
    expect(restarts).toEqual(['software']);
    expect(JSON.parse(readFileSync(join(stateDir, 'software-order.json'), 'utf8'))).toMatchObject({
      status: 'switching',
    });
    expect((await outbox()).map((event) => event.body).at(-1)).toEqual({
      orderId: 'order-0001',
      version: '0.2.0',
      status: 'switching',
    });
    update.stop();
  });

  it('reports the guard’s rollbacks once, naming the order, with ids that survive a re-report', async () => {
    const { stateDir, make, outbox, store } = await kiosk({
      orderId: 'order-0002',
      version: '0.2.0',
      by: 'ops:test',
      status: 'switching',
    });
    const line = '{"from":"0.2.0","to":"0.1.9","reason":"crash-loop","at":"2026-11-30T20:00:00Z"}\n';
    writeFileSync(unreportedRollbacksFile(stateDir), line);
    await make().start();
    const first = await outbox();
    expect(first).toEqual([
      {
        id: expect.any(String),
        type: 'software.rolledBack',
        body: {
          from: '0.2.0',
          to: '0.1.9',
          reason: 'crash-loop',
          at: '2026-11-30T20:00:00Z',
          orderId: 'order-0002',
        },
      },
    ]);
    expect(existsSync(unreportedRollbacksFile(stateDir))).toBe(false);
    expect(JSON.parse(readFileSync(join(stateDir, 'software-order.json'), 'utf8'))).toMatchObject({
      status: 'rolled-back',
    });
    // a crash between the commit and the removal: reported again, never twice in the outbox…
    writeFileSync(unreportedRollbacksFile(stateDir), line);
    await make().start();
    expect(await outbox()).toEqual(first);
    expect(existsSync(unreportedRollbacksFile(stateDir))).toBe(false);
    // …and once the first was sent, with the same event id (consumers deduplicate by it)
    await store.removeFromOutbox((await store.outboxPage(0, 100)).map((row) => row.seq));
    writeFileSync(unreportedRollbacksFile(stateDir), line);
    await make().start();
    expect((await outbox()).map((event) => event.id)).toEqual([first[0]!.id]);
  });
});

describe("a technician's install while the kiosk runs (update/pending)", () => {
  const watches: InstalledReleaseWatch[] = [];
  afterEach(() => {
    for (const watch of watches.splice(0)) watch.stop();
  });

  /** An install root on 0.1.1 with `installed` unpacked beside it, and a watch that polls by hand. */
  function installRoot(installed: string[]) {
    const root = mkdtempSync(join(tmpdir(), 'installed-release-'));
    for (const version of installed) {
      mkdirSync(join(root, 'releases', version), { recursive: true });
      writeFileSync(join(root, 'releases', version, 'manifest.json'), '{}');
    }
    const session = new Session();
    const bus = new EventBus<RuntimeEvents>(quietLogger());
    const restarts: unknown[] = [];
    bus.on('test', 'fleet.restart', (event) => void restarts.push(event));
    const watch = new InstalledReleaseWatch({
      installRoot: root,
      running: '0.1.1',
      sessions: session,
      bus,
      log: quietLogger(),
      pollMs: 3_600_000,
    });
    watches.push(watch);
    return { root, session, restarts, watch };
  }

  it('restarts for a release installed while it runs, once the session in progress ended', async () => {
    const { root, session, restarts, watch } = installRoot(['0.1.1', '0.1.2']);
    await watch.start();
    await requestSwitch(root, '0.1.2');
    await watch.poll();
    await watch.poll();
    expect(restarts).toEqual([]);
    session.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(restarts).toEqual([{ by: 'software' }]);
  });

  it('does not restart for a request already there at start, for the running release, or for one not installed', async () => {
    for (const [atStart, request] of [
      [true, '0.1.2'],
      [false, '0.1.1'],
      [false, '0.1.3'],
    ] as const) {
      const { root, session, restarts, watch } = installRoot(['0.1.1', '0.1.2']);
      session.end();
      if (atStart) await requestSwitch(root, request);
      await watch.start();
      if (!atStart) await requestSwitch(root, request);
      await watch.poll();
      await new Promise((resolve) => setImmediate(resolve));
      expect([request, restarts]).toEqual([request, []]);
    }
  });
});

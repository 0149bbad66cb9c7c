/**
 * Issue 14: an ordered update outlasts a repository that cannot be reached. The runtime's
 * RuntimeUpdate (as src/main.ts builds it) with a real SQLite store, the real TUF updater and the
 * real HTTPS repository server, which is not listening when the order comes: the kiosk answers
 * `downloading` with each retry (update.retrySeconds), stages the release once the server is up,
 * and refuses the order as unreachable only when its waits are used up. A session in progress
 * keeps the switch itself from happening here: this is about the download.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageBody } from '../../../src/link/messages.js';
import { UPDATE_DEFAULTS } from '../../../src/config/update-schema.js';
import { Store } from '../../../src/store/index.js';
import { type RepositoryServer } from '../../../src/update/serve.js';
import { RuntimeUpdate, switchRequestFile } from '../../../src/update/runtime-update.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';
import { freePort } from '../../helpers/mosquitto.js';
import {
  makeBundle,
  makeKeys,
  makeKioskRoot,
  makeOpsPki,
  makeRepository,
  publish,
  serveRepository,
  tempDir,
} from './fixtures.js';

type SoftwareResult = MessageBody<'software.result'>;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A kiosk whose repository (0.2.0 published) is not served yet, and an order for 0.2.0 taken. */
async function orderWithRepositoryDown(retrySeconds: number[]) {
  const work = tempDir('retry');
  const keys = makeKeys();
  const repo = join(work, 'repo');
  await makeRepository(repo, keys);
  await publish(repo, keys, [await makeBundle(work, '0.2.0')]);
  const installRoot = join(work, 'opt');
  await makeKioskRoot(installRoot, repo);
  mkdirSync(join(work, 'pki'));
  const pki = makeOpsPki(join(work, 'pki'));
  writeFileSync(join(work, 'ca.pem'), pki.caCert);
  const port = await freePort();
  const stateDir = join(work, 'state');
  mkdirSync(stateDir);

  const store = new Store({
    file: join(stateDir, 'kiosk.sqlite'),
    synchronous: 'FULL',
    defaultTopic: 'events',
    log: quietLogger(),
  });
  await store.start();
  const update = new RuntimeUpdate({
    settings: {
      ...UPDATE_DEFAULTS,
      installRoot,
      repositoryUrl: `https://127.0.0.1:${port}/`,
      caFile: join(work, 'ca.pem'),
      retrySeconds,
    },
    stateDir,
    store,
    // a citizen session in progress: staged is as far as the order goes here
    sessions: { idle: false, subscribe: () => () => undefined },
    bus: new EventBus<RuntimeEvents>(quietLogger()),
    log: quietLogger(),
  });
  cleanups.push(async () => {
    update.stop();
    await store.stop();
  });

  const effects: Array<() => void> = [];
  const order = { orderId: 'order-retry', version: '0.2.0', by: 'ops:test' };
  await store.transaction((tx) => update.accept(order, tx, (effect) => void effects.push(effect)));
  for (const effect of effects) effect();

  const answers = async (): Promise<SoftwareResult[]> =>
    (await store.outboxPage(0, 1000))
      .filter((row) => row.type === 'software.result')
      .map((row) => JSON.parse(row.body) as SoftwareResult);
  /** Waits for the answers to satisfy `condition` (bounded by the test's timeout; nothing is timed). */
  const until = async (condition: (said: SoftwareResult[]) => boolean): Promise<void> => {
    while (!condition(await answers())) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  const serve = async (): Promise<void> => {
    const server: RepositoryServer = await serveRepository({
      dir: repo,
      cert: pki.serverCert,
      key: pki.serverKey,
      port,
    });
    cleanups.push(() => server.close());
  };
  return { stateDir, answers, until, serve };
}

const retries = (said: SoftwareResult[]) =>
  said.filter((answer) => answer.status === 'downloading' && answer.detail?.includes('unreachable'));

describe('an ordered update and an unreachable repository', () => {
  it('is answered downloading with each retry, and staged once the repository is back', async () => {
    const kiosk = await orderWithRepositoryDown([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    await kiosk.until((said) => retries(said).length >= 1);
    expect(retries(await kiosk.answers())[0]!.detail).toBe(
      'update repository unreachable; retry 1 of 10 in 1 s',
    );
    await kiosk.serve();
    await kiosk.until((said) => said.some((answer) => answer.status === 'staged'));
    const said = await kiosk.answers();
    expect(said.map((answer) => answer.status)).not.toContain('refused');
    expect(said.at(-1)).toEqual({ orderId: 'order-retry', version: '0.2.0', status: 'staged' });
    expect(existsSync(switchRequestFile(kiosk.stateDir))).toBe(true);
  }, 120_000);

  it('is refused as unreachable once its waits are used up', async () => {
    const kiosk = await orderWithRepositoryDown([1, 1]);
    await kiosk.until((said) =>
      said.some((answer) => answer.status === 'refused' || answer.status === 'staged'),
    );
    const said = await kiosk.answers();
    expect(retries(said).map((answer) => answer.detail)).toEqual([
      'update repository unreachable; retry 1 of 2 in 1 s',
      'update repository unreachable; retry 2 of 2 in 1 s',
    ]);
    expect(said.at(-1)).toMatchObject({ status: 'refused', reason: 'unreachable' });
    expect(existsSync(switchRequestFile(kiosk.stateDir))).toBe(false);
  }, 120_000);
});

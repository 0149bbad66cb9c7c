import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type JobHandler, JobRunner, Store } from '../../../src/store/index.js';
import { fullJitterDelay } from '../../../src/util/backoff.js';
import { quietLogger } from '../../helpers/logs.js';

let clock = 1_000_000;
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.stop()));
});

async function openStore(file = join(mkdtempSync(join(tmpdir(), 'jobs-')), 'kiosk.sqlite')): Promise<Store> {
  const store = new Store({
    file,
    synchronous: 'NORMAL',
    defaultTopic: 't',
    log: quietLogger(),
    now: () => clock,
  });
  await store.start();
  stores.push(store);
  return store;
}

const backoff = { minMs: 1000, maxMs: 60_000 };

function runner(store: Store, handlers: Record<string, JobHandler>, random = () => 1) {
  return new JobRunner({
    jobs: store.jobs,
    handlers: new Map(Object.entries(handlers)),
    backoff,
    pollMs: 1000,
    log: quietLogger(),
    random,
  });
}

describe('full-jitter backoff', () => {
  it('stays within [0, min(cap, base·2^attempt)]', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(backoff.maxMs, backoff.minMs * 2 ** attempt);
      expect(fullJitterDelay(attempt, backoff, () => 0)).toBe(0);
      expect(fullJitterDelay(attempt, backoff, () => 1)).toBe(ceiling);
    }
  });
});

describe('jobs', () => {
  it('run due jobs by priority, and not before run_at', async () => {
    const store = await openStore();
    const ran: string[] = [];
    const handler: JobHandler = async (payload) => {
      ran.push((payload as { name: string }).name);
    };
    await store.jobs.add({ kind: 'print', payload: { name: 'low' }, priority: 0 });
    await store.jobs.add({ kind: 'print', payload: { name: 'high' }, priority: 5 });
    await store.jobs.add({ kind: 'print', payload: { name: 'later' }, priority: 9, runAt: clock + 5000 });
    expect(await runner(store, { print: handler }).runDue()).toBe(2);
    expect(ran).toEqual(['high', 'low']);
    clock += 5000;
    await runner(store, { print: handler }).runDue();
    expect(ran).toEqual(['high', 'low', 'later']);
    expect(await store.jobs.list()).toEqual([]);
  });

  it('retry with exponential backoff and full jitter, then go to the dead letters', async () => {
    const store = await openStore();
    let calls = 0;
    const failing = runner(store, {
      flaky: async () => {
        calls++;
        throw new Error('printer jammed');
      },
    });
    await store.jobs.add({ kind: 'flaky', payload: {}, maxAttempts: 4 });
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const before = clock;
      expect(await failing.runDue()).toBe(1);
      expect(await failing.runDue()).toBe(0); // not due again yet
      const [job] = await store.jobs.list();
      waits.push((job?.run_at ?? 0) - before);
      clock = job?.run_at ?? clock;
    }
    expect(calls).toBe(4);
    expect(waits.slice(0, 3)).toEqual([1000, 2000, 4000]); // random() = 1: the ceiling of each step
    const [dead] = await store.jobs.list('dead');
    expect(dead).toMatchObject({ state: 'dead', attempts: 4, last_error: 'Error: printer jammed' });
    clock += 3_600_000;
    expect(await failing.runDue()).toBe(0);
  });

  it('a dead job can be retried or discarded by a technician (audited)', async () => {
    const store = await openStore();
    const id = await store.jobs.add({ kind: 'unknown-kind', payload: {}, maxAttempts: 1 });
    await runner(store, {}).runDue();
    expect((await store.jobs.list('dead')).map((job) => job.id)).toEqual([id]);
    expect(await store.jobs.retry(id)).toBe(true);
    expect((await store.jobs.list('pending')).map((job) => job.attempts)).toEqual([0]);
    await runner(store, {}).runDue();
    expect(await store.jobs.discard(id)).toBe(true);
    expect(await store.jobs.discard(id)).toBe(false);
    const audit = await store.read().all<{ action: string }>('SELECT action FROM audit ORDER BY id');
    expect(audit.map((row) => row.action)).toEqual(['job.retry', 'job.discard']);
  });

  it('a job running when the process died is due again at start, its attempt counted', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'jobs-')), 'kiosk.sqlite');
    const store = await openStore(file);
    await store.jobs.add({ kind: 'sync', payload: {}, maxAttempts: 3 });
    await store.jobs.add({ kind: 'sync', payload: {}, maxAttempts: 1 });
    expect((await store.jobs.claimDue())?.state).toBe('running');
    expect((await store.jobs.claimDue())?.state).toBe('running');
    await store.stop(); // as if killed: nothing marked them finished
    stores.splice(0);
    const reopened = await openStore(file);
    const jobs = await reopened.jobs.list();
    expect(jobs.map((job) => [job.state, job.attempts, job.last_error])).toEqual([
      ['pending', 1, 'interrupted by a restart'],
      ['dead', 1, 'interrupted by a restart'],
    ]);
  });
});

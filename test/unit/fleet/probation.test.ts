/**
 * The generic probation (issue 13 item 2, reusable by issue 14's releases): the pure judge with
 * explicit instants, and the ledger on a real file in a temporary directory, read back by a new
 * ledger each time as a restarted process would.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CRASH_LOOP,
  type HealthInput,
  type HealthReading,
  judge,
  ProbationLedger,
  type WatchClocks,
} from '../../../src/fleet/probation.js';

const input = (name: string, graceMs: number): HealthInput => ({
  name,
  graceMs,
  read: () => ({ ok: true }),
});
const broker = input('broker', 1000);
const parts = input('parts', 0);

function round(brokerOk: boolean, partsOk = true, detail = 'broker unreachable') {
  const reading = (ok: boolean): HealthReading => (ok ? { ok } : { ok, detail });
  return [
    { input: broker, reading: reading(brokerOk) },
    { input: parts, reading: reading(partsOk) },
  ];
}

describe('judge', () => {
  it('passes only after every input was well for the whole window, and only once in effect', () => {
    const clocks: WatchClocks = { badSince: {} };
    expect(judge(clocks, round(true), 500, 0)).toEqual({ kind: 'wait' });
    expect(judge(clocks, round(true), 500, 499)).toEqual({ kind: 'wait' });
    expect(judge(clocks, round(false), 500, 600)).toEqual({ kind: 'wait' }); // a break restarts the clock
    expect(judge(clocks, round(true), 500, 700)).toEqual({ kind: 'wait' });
    expect(judge(clocks, round(true), 500, 1199)).toEqual({ kind: 'wait' });
    expect(judge(clocks, round(true), 500, 1200, false)).toEqual({ kind: 'wait' }); // waits for a restart
    expect(judge(clocks, round(true), 500, 1300)).toEqual({ kind: 'wait' });
    expect(judge(clocks, round(true), 500, 1800)).toEqual({ kind: 'pass' });
  });

  it('reverts when one input stays bad for its grace, with that input as the cause', () => {
    const clocks: WatchClocks = { badSince: {} };
    expect(judge(clocks, round(false), 10_000, 0).kind).toBe('wait');
    expect(judge(clocks, round(false), 10_000, 999).kind).toBe('wait');
    expect(judge(clocks, round(false), 10_000, 1000)).toEqual({
      kind: 'revert',
      cause: 'broker',
      detail: 'broker unreachable',
    });
    // a part with no grace reverts at its first bad reading
    expect(judge({ badSince: {} }, round(true, false, 'devices: scanner missing'), 10_000, 0)).toEqual({
      kind: 'revert',
      cause: 'parts',
      detail: 'devices: scanner missing',
    });
  });

  it('never reverts an input that recovers within its grace, whatever the readings', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (readings) => {
        const clocks: WatchClocks = { badSince: {} };
        let badRun = 0;
        readings.forEach((ok, step) => {
          badRun = ok ? 0 : badRun + 1;
          const verdict = judge(clocks, round(ok), 1_000_000, step * 100);
          // bad for (badRun - 1) * 100 ms so far; the grace is 1000 ms
          expect(verdict.kind === 'revert').toBe((badRun - 1) * 100 >= 1000);
          if (verdict.kind === 'revert') {
            badRun = 0; // the watch stops at a verdict; judging again starts from nothing
            clocks.badSince = {};
          }
        });
      }),
    );
  });
});

type Value = { id: string };
const ValueSchema: z.ZodType<Value> = z.strictObject({ id: z.string() });

function ledger(file: string, maxStarts = 2) {
  return new ProbationLedger<Value>({
    file,
    valueSchema: ValueSchema,
    same: (a, b) => a.id === b.id,
    maxStarts,
  });
}

describe('ProbationLedger', () => {
  const fresh = () => join(mkdtempSync(join(tmpdir(), 'probation-')), 'identity', 'subject.json');

  it('starts with what runs as the last good value', () => {
    const file = fresh();
    expect(ledger(file).boot({ id: 'a' })).toEqual({ kind: 'good', run: { id: 'a' } });
    expect(ledger(file).read()).toEqual({ lastGood: { id: 'a' } });
  });

  it('counts each start of a candidate and reverts a crash loop to the last good value', () => {
    const file = fresh();
    ledger(file).boot({ id: 'a' });
    ledger(file).begin({ id: 'b' }, { id: 'a' });
    expect(ledger(file).boot({ id: 'b' })).toMatchObject({ kind: 'probation', candidate: { starts: 1 } });
    expect(ledger(file).boot({ id: 'b' })).toMatchObject({ kind: 'probation', candidate: { starts: 2 } });
    const third = ledger(file).boot({ id: 'b' });
    expect(third).toMatchObject({
      kind: 'reverted',
      run: { id: 'a' },
      reverted: { cause: CRASH_LOOP, value: { id: 'b' } },
    });
    // until the owner settles it, every start finds the same revert (same id: reported once)
    const again = ledger(file).boot({ id: 'b' });
    expect(again).toEqual(third);
    if (again.kind !== 'reverted') throw new Error('unreachable');
    ledger(file).settle(again.reverted.id);
    expect(ledger(file).boot({ id: 'a' })).toEqual({ kind: 'good', run: { id: 'a' } });
  });

  it('makes a passed candidate the last good value, and keeps the last good one under a newer candidate', () => {
    const file = fresh();
    ledger(file).boot({ id: 'a' });
    ledger(file).begin({ id: 'b' }, { id: 'a' });
    ledger(file).begin({ id: 'c' }, { id: 'b' }); // b never passed: a stays the last good one
    expect(ledger(file).revert('broker', 'broker unreachable')).toMatchObject({ run: { id: 'a' } });
    const file2 = fresh();
    ledger(file2).boot({ id: 'a' });
    ledger(file2).begin({ id: 'b' }, { id: 'a' });
    expect(ledger(file2).pass()).toEqual({ id: 'b' });
    expect(ledger(file2).read()).toEqual({ lastGood: { id: 'b' } });
  });

  it('puts on probation what the owner runs when the record missed its beginning', () => {
    const file = fresh();
    ledger(file).boot({ id: 'a' });
    // the owner's store committed `b`, the process died before `begin`
    expect(ledger(file).boot({ id: 'b' })).toMatchObject({ kind: 'probation', candidate: { starts: 1 } });
    // and a candidate the owner never committed is dropped
    ledger(file).begin({ id: 'c' }, { id: 'a' });
    expect(ledger(file).resume({ id: 'b' })).toMatchObject({
      kind: 'probation',
      candidate: { value: { id: 'b' } },
    });
  });

  it('moves an unreadable record aside and starts afresh', () => {
    const file = fresh();
    ledger(file).boot({ id: 'a' });
    writeFileSync(file, '{"lastGood": {"id": 1}}');
    expect(ledger(file).boot({ id: 'z' })).toEqual({ kind: 'good', run: { id: 'z' } });
    expect(readdirSync(join(file, '..')).some((name) => name.includes('.unreadable-'))).toBe(true);
  });
});

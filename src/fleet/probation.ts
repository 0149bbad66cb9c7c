/**
 * Probation: a change (pushed configuration now, a software release in issue 14) runs as a
 * CANDIDATE until the kiosk has been well for a while; the LAST GOOD value is kept beside it and
 * comes back when the candidate fails. Everything here survives restarts, SIGKILL and power loss:
 * the record lives in a small JSON file (written atomically, fsynced) outside the database, so the
 * choice of what to run is made at process start, before anything connects, and does not need the
 * store (which a candidate may have broken).
 *
 * A candidate fails when
 * - the kiosk starts more than `maxStarts` times without passing (a crash loop: every start counts,
 *   the count is written before anything else runs), or
 * - one of its health inputs (the broker, the parts) stays bad longer than that input's grace.
 * It passes once every input has been well, without a break, for `passAfterMs`.
 *
 * A revert is recorded first (`reverted`, with an id), then carried out and reported by the owner,
 * then `settled`: a crash anywhere in between finds the record and finishes the job, and the id lets
 * the owner report it exactly once.
 *
 * Generic over the value `T`: the owner says how to validate it (a zod schema, since the file is
 * read back after restarts) and when two values are the same change (by their ids).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, type BigIntStats, statSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface Candidate<T> {
  value: T;
  /** process starts with this candidate in effect, counted before anything else runs */
  starts: number;
  /** the health inputs it is judged on (those that were well when it began); all when absent */
  inputs?: string[];
  /** wall-clock ms when it began: for operators, never for decisions */
  since: number;
}

export interface Reverted<T> {
  id: string;
  /** the candidate that was reverted */
  value: T;
  /** `crash-loop` or the name of the health input that stayed bad */
  cause: string;
  /** short, PII-free, for operators */
  detail: string;
  at: number;
}

export interface ProbationRecord<T> {
  lastGood: T;
  candidate?: Candidate<T>;
  /** a revert decided but not yet carried out and reported by the owner */
  reverted?: Reverted<T>;
}

export type ProbationState<T> =
  | { kind: 'good'; run: T }
  | { kind: 'probation'; run: T; candidate: Candidate<T> }
  | { kind: 'reverted'; run: T; reverted: Reverted<T> };

export const CRASH_LOOP = 'crash-loop';

function recordSchema<T>(value: z.ZodType<T>) {
  return z.strictObject({
    lastGood: value,
    candidate: z
      .strictObject({
        value,
        starts: z.number().int().min(0),
        inputs: z.array(z.string().max(64)).max(32).optional(),
        since: z.number().int().min(0),
      })
      .optional(),
    reverted: z
      .strictObject({
        id: z.string().min(1).max(64),
        value,
        cause: z.string().min(1).max(64),
        detail: z.string().max(500),
        at: z.number().int().min(0),
      })
      .optional(),
  });
}

export interface ProbationLedgerOptions<T> {
  file: string;
  valueSchema: z.ZodType<T>;
  /** whether two values are the same change (compare ids, not contents) */
  same: (a: T, b: T) => boolean;
  /** starts allowed on probation; the next one reverts (a crash loop) */
  maxStarts: number;
  now?: () => number;
  /** told when an unreadable record was moved aside (it is then started afresh) */
  onUnreadable?: (movedTo: string) => void;
}

/** The persisted record of one subject's probation (one file per subject). */
export class ProbationLedger<T> {
  private readonly schema: z.ZodType<ProbationRecord<T>>;
  /**
   * The record as last read or written, with the identity of the file that held it (inode, change
   * time, size): a read finds the same file and returns it without reading and validating the file
   * again; a file written since by anyone (a new inode: writes are renames) is read afresh.
   */
  private cached: { file: string; record: ProbationRecord<T> } | undefined;

  constructor(private readonly options: ProbationLedgerOptions<T>) {
    this.schema = recordSchema(options.valueSchema) as unknown as z.ZodType<ProbationRecord<T>>;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** The record, or undefined when there is none (an unreadable one is moved aside). */
  read(): ProbationRecord<T> | undefined {
    const { file } = this.options;
    const stats = statSync(file, { bigint: true, throwIfNoEntry: false });
    if (!stats) return undefined;
    if (this.cached?.file === fileIdentity(stats)) return this.cached.record;
    try {
      const record = this.schema.parse(JSON.parse(readFileSync(file, 'utf8')));
      this.remember(record, stats);
      return record;
    } catch {
      // a record we cannot trust says nothing about what was good: keep it for a technician and
      // start afresh from what the owner runs now
      const aside = `${file}.unreadable-${this.now()}`;
      renameSync(file, aside);
      this.options.onUnreadable?.(aside);
      return undefined;
    }
  }

  private write(record: ProbationRecord<T>): void {
    this.cached = undefined;
    const valid = this.schema.parse(record);
    writeFileAtomic(this.options.file, `${JSON.stringify(valid)}\n`);
    this.remember(valid, statSync(this.options.file, { bigint: true }));
  }

  /** Keeps `record` as the content of the file `stats` describe (deeply frozen: callers share it). */
  private remember(record: ProbationRecord<T>, stats: BigIntStats): void {
    this.cached = { file: fileIdentity(stats), record: deepFreeze(record) };
  }

  /**
   * At process start, before anything connects: which value to run, given `current`, the value the
   * owner would run (its own store). Counts the start of a candidate, and reverts a crash loop.
   */
  boot(current: T): ProbationState<T> {
    return this.reconcile(current, true);
  }

  /** Like `boot`, without counting a start: for an owner (re)started inside a running process. */
  resume(current: T): ProbationState<T> {
    return this.reconcile(current, false);
  }

  private reconcile(current: T, countStart: boolean): ProbationState<T> {
    const record = this.read();
    if (!record) {
      this.write({ lastGood: current });
      return { kind: 'good', run: current };
    }
    if (record.reverted) return { kind: 'reverted', run: record.lastGood, reverted: record.reverted };
    if (this.options.same(current, record.lastGood)) {
      // a candidate that never reached the owner's store (a crash in between) is not a change
      if (record.candidate) this.write({ lastGood: record.lastGood });
      return { kind: 'good', run: current };
    }
    // whatever is not known good is on probation, even if the record missed its beginning
    const known = record.candidate && this.options.same(record.candidate.value, current);
    const candidate: Candidate<T> = known
      ? { ...record.candidate!, value: current }
      : { value: current, starts: 0, since: this.now() };
    if (countStart) candidate.starts += 1;
    if (countStart && candidate.starts > this.options.maxStarts)
      return this.recordRevert(
        record,
        current,
        CRASH_LOOP,
        `crash loop: started ${candidate.starts} times without passing probation`,
      );
    this.write({ lastGood: record.lastGood, candidate });
    return { kind: 'probation', run: current, candidate };
  }

  /**
   * `value` becomes the candidate, against the last good value (or `previous` when there is no
   * record yet). A newer candidate replaces one still on probation: the last good stays.
   */
  begin(value: T, previous: T, options: { inputs?: string[] } = {}): Candidate<T> {
    const record = this.read() ?? { lastGood: previous };
    const candidate: Candidate<T> = {
      value,
      starts: 0,
      ...(options.inputs ? { inputs: options.inputs } : {}),
      since: this.now(),
    };
    this.write({ ...record, candidate });
    return candidate;
  }

  /** The candidate passed: it is the last good value now. */
  pass(): T | undefined {
    const record = this.read();
    if (!record?.candidate) return undefined;
    this.write({
      lastGood: record.candidate.value,
      ...(record.reverted ? { reverted: record.reverted } : {}),
    });
    return record.candidate.value;
  }

  /** Records that the candidate failed; the owner then carries the revert out and `settle`s it. */
  revert(cause: string, detail: string): ProbationState<T> | undefined {
    const record = this.read();
    if (!record?.candidate) return undefined;
    return this.recordRevert(record, record.candidate.value, cause, detail);
  }

  private recordRevert(
    record: ProbationRecord<T>,
    value: T,
    cause: string,
    detail: string,
  ): ProbationState<T> {
    const reverted: Reverted<T> = {
      id: `revert-${randomUUID()}`,
      value,
      cause,
      detail: detail.slice(0, 500),
      at: this.now(),
    };
    this.write({ lastGood: record.lastGood, reverted });
    return { kind: 'reverted', run: record.lastGood, reverted };
  }

  /** Starts the record afresh with `current` as the last good value (the owner lost its own). */
  reset(current: T): void {
    this.write({ lastGood: current });
  }

  /** The owner carried out (and reported) the revert `id`. */
  settle(id: string): void {
    const record = this.read();
    if (record?.reverted?.id !== id) return;
    this.write({ lastGood: record.lastGood, ...(record.candidate ? { candidate: record.candidate } : {}) });
  }
}

/** What tells one version of a file from another: a rename brings a new inode. */
function fileIdentity(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.ctimeNs}:${stats.mtimeNs}:${stats.size}`;
}

function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// ---- judging a candidate while it runs -------------------------------------------------------

export interface HealthReading {
  ok: boolean;
  /** short, PII-free reason when not ok */
  detail?: string;
}

export interface HealthInput {
  name: string;
  /** how long it may stay bad, without a break, before the candidate is reverted */
  graceMs: number;
  read(): HealthReading;
}

/** What the judge remembers between readings (in memory: a restart starts the clocks again). */
export interface WatchClocks {
  /** since when every input has been well */
  wellSince?: number;
  /** since when each bad input has been bad */
  badSince: Record<string, number>;
}

export type Verdict = { kind: 'wait' } | { kind: 'pass' } | { kind: 'revert'; cause: string; detail: string };

/**
 * Pure: the verdict on a candidate from one round of readings at `now`; updates `clocks`. Any input
 * bad for its grace reverts; all well for `passAfterMs` without a break passes, once in effect.
 */
export function judge(
  clocks: WatchClocks,
  readings: ReadonlyArray<{ input: HealthInput; reading: HealthReading }>,
  passAfterMs: number,
  now: number,
  inEffect = true,
): Verdict {
  let allWell = true;
  for (const { input, reading } of readings) {
    if (reading.ok) {
      delete clocks.badSince[input.name];
      continue;
    }
    allWell = false;
    const since = (clocks.badSince[input.name] ??= now);
    if (now - since >= input.graceMs)
      return { kind: 'revert', cause: input.name, detail: reading.detail ?? `${input.name} not well` };
  }
  // a candidate not yet in effect (it waits for a restart) may fail, never pass: what passed must
  // have been run
  if (!allWell || !inEffect) {
    delete clocks.wellSince;
    return { kind: 'wait' };
  }
  const wellSince = (clocks.wellSince ??= now);
  return now - wellSince >= passAfterMs ? { kind: 'pass' } : { kind: 'wait' };
}

export interface ProbationWatchOptions {
  inputs: readonly HealthInput[];
  passAfterMs: number;
  pollMs: number;
  /** whether the candidate runs (one that waits for a restart is judged, but cannot pass) */
  inEffect?: () => boolean;
  /** called once with the first verdict that is not `wait`; the watch stops itself before */
  decided: (verdict: Exclude<Verdict, { kind: 'wait' }>) => void;
  now?: () => number;
}

/** Reads the health inputs every `pollMs` and reports the first pass or revert. */
export class ProbationWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly clocks: WatchClocks = { badSince: {} };

  constructor(private readonly options: ProbationWatchOptions) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.options.pollMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (!this.timer) return;
    const readings = this.options.inputs.map((input) => ({ input, reading: input.read() }));
    const now = this.options.now?.() ?? performance.now();
    const inEffect = this.options.inEffect?.() ?? true;
    const verdict = judge(this.clocks, readings, this.options.passAfterMs, now, inEffect);
    if (verdict.kind === 'wait') return;
    this.stop();
    this.options.decided(verdict);
  }
}

/**
 * Staged rollouts (issue 13): a payload (a signed config now; a software release with issue 14)
 * goes to a canary group first, then to the rest at a constant or doubling rate. After each step
 * the updated kiosks' health is watched for a soak period; the rollout aborts by itself when more
 * kiosks fail than the plan tolerates — refused, no answer, rolled back by the kiosk, or health
 * regressed (out of service, a part or device worse than before, offline at the end of the soak).
 *
 * It can be paused and resumed, and it survives the ops process: every decision is written to the
 * rollout's record (rollout-record.ts) before it is acted on, and a new process resumes from the
 * record. Used by `kiosk-ops rollout` and by the ops dashboard (`kiosk-ops serve`); both feed it
 * the fleet through the `RolloutFleet` port (fleet-feed.ts) and listen to its progress.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { RolloutFleet } from './fleet-feed.js';
import {
  type PayloadAnswer,
  type PayloadDriver,
  type PayloadDrivers,
  PayloadInvalid,
} from './rollout-payloads.js';
import {
  abortVerdict,
  countOutcomes,
  healthRegression,
  type OutcomeCounts,
  outcomeBucket,
  RolloutPlanInvalid,
  rolloutOrder,
  stepSize,
} from './rollout-plan.js';
import {
  currentOwner,
  FAILED_OUTCOMES,
  type KioskOutcome,
  ownerAlive,
  type RolloutAction,
  type RolloutControl,
  type RolloutKiosk,
  type RolloutPayload,
  type RolloutPlan,
  RolloutPayloadSchema,
  RolloutPlanSchema,
  type RolloutRecord,
  type RolloutState,
  type RolloutStore,
} from './rollout-record.js';

export { MqttFleetFeed, type RolloutFleet } from './fleet-feed.js';
export {
  configDriver,
  payloadDrivers,
  PayloadInvalid,
  softwareDriver,
  type PayloadDriver,
  type PayloadDrivers,
} from './rollout-payloads.js';
export { countOutcomes, type OutcomeCounts, RolloutPlanInvalid } from './rollout-plan.js';
export {
  type KioskOutcome,
  ownerAlive,
  type KioskSnapshot,
  type RolloutKiosk,
  type RolloutPayload,
  type RolloutPlan,
  type RolloutRecord,
  RolloutRecordUnreadable,
  type RolloutState,
  RolloutStore,
} from './rollout-record.js';

/** An action that does not fit the rollout's state (resume a completed one, drive a busy one…). */
export class RolloutRefused extends Error {
  override readonly name = 'RolloutRefused';
}

export interface StartRolloutRequest {
  payload: RolloutPayload;
  plan: RolloutPlan;
  /** kiosk ids; every kiosk the fleet knows when absent */
  targets?: readonly string[];
  /** who starts it (operator name and key id): kept in the record */
  by: string;
  /** the rollout's id (`newRolloutId()`): given when the caller needs it before starting */
  id?: string;
}

/** `2026-11-30-1a2b3c4d`: the day, and random hex so ids do not collide. */
export function newRolloutId(now = Date.now()): string {
  return `${new Date(now).toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
}

export type RolloutProgressKind =
  'started' | 'step-started' | 'kiosk' | 'step-done' | 'paused' | 'resumed' | 'aborted' | 'completed';

/** One thing that happened in a rollout, with the counts after it. */
export interface RolloutProgress {
  rolloutId: string;
  at: number;
  kind: RolloutProgressKind;
  state: RolloutState;
  /** the step concerned (0 = canary) */
  step?: number;
  /** for `kiosk`: which one and its new outcome */
  kioskId?: string;
  outcome?: KioskOutcome;
  /** reason (pause, abort) or the kiosk's detail */
  detail?: string;
  /** how many steps the plan takes at most, for "step 2 of 5" */
  stepsPlanned: number;
  counts: OutcomeCounts;
}

export type RolloutProgressListener = (progress: RolloutProgress) => void;

export interface RolloutEngineOptions {
  store: RolloutStore;
  fleet: RolloutFleet;
  drivers: PayloadDrivers;
  now?: () => number;
  /** how often running rollouts are advanced (default 250 ms) */
  tickMs?: number;
  /** how often at most answers alone are written to the record (default 1000 ms) */
  flushMs?: number;
}

interface Tally {
  counts: OutcomeCounts;
  steps: number;
}

interface Active {
  record: RolloutRecord;
  dirty: boolean;
  /** when the record was last written (answers are written at most every `flushMs`) */
  savedAt: number;
  settled: Promise<RolloutRecord>;
  settle: (record: RolloutRecord) => void;
}

const FINAL: readonly RolloutState[] = ['completed', 'aborted'];

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown';
}

/** Steps a plan takes for `targets` kiosks (canary included). */
export function plannedSteps(plan: RolloutPlan, targets: number): number {
  let steps = 0;
  for (let covered = 0; covered < targets; steps++) covered += stepSize(plan, steps, targets);
  return steps;
}

export class RolloutEngine {
  private readonly active = new Map<string, Active>();
  private readonly tallies = new WeakMap<RolloutRecord, Tally>();
  private readonly listeners = new Set<RolloutProgressListener>();
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: RolloutEngineOptions) {
    this.unsubscribe = options.fleet.onKioskMessage((kioskId, leaf, payload) =>
      this.onKioskMessage(kioskId, leaf, payload),
    );
    this.timer = setInterval(() => void this.tick(), options.tickMs ?? 250);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private driver(payload: RolloutPayload): PayloadDriver {
    const driver = this.options.drivers[payload.kind] as PayloadDriver | undefined;
    if (!driver) throw new RolloutRefused(`no driver for payload kind ${payload.kind}`);
    return driver;
  }

  /** Progress of every rollout this engine drives; returns the unsubscribe. */
  onProgress(listener: RolloutProgressListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks payload and plan, writes the record, and starts the canary step on the next tick. */
  start(request: StartRolloutRequest): RolloutRecord {
    const plan = RolloutPlanSchema.safeParse(request.plan);
    if (!plan.success) throw new RolloutPlanInvalid(`invalid plan: ${firstIssue(plan.error)}`);
    const payload = RolloutPayloadSchema.safeParse(request.payload);
    if (!payload.success) throw new PayloadInvalid(`invalid payload: ${firstIssue(payload.error)}`);
    const driver = this.driver(payload.data);
    driver.check(payload.data);
    const order = rolloutOrder(plan.data, request.targets ?? this.options.fleet.kiosks());
    const now = this.now();
    const id = request.id ?? newRolloutId(now);
    if (this.options.store.load(id)) throw new RolloutRefused(`rollout ${id} exists already`);
    const record: RolloutRecord = {
      id,
      createdAt: now,
      createdBy: request.by,
      payload: payload.data,
      plan: plan.data,
      state: 'running',
      order,
      kiosks: Object.fromEntries(order.map((kioskId) => [kioskId, { outcome: 'waiting' }])),
      steps: [],
      history: [{ at: now, by: request.by, action: 'start', detail: driver.describe(payload.data) }],
      owner: currentOwner(now),
      updatedAt: now,
    };
    this.options.store.save(record);
    this.adopt(record);
    this.emit(record, 'started', { detail: driver.describe(payload.data) });
    return structuredClone(record);
  }

  /**
   * Resumes a paused rollout, or takes over one whose ops process died (state `running`, owner
   * gone). Kiosks sent the payload before are not sent a new one: their signed message is
   * re-published as it was, and answers that arrived meanwhile are read from the kiosks' status.
   */
  resume(id: string, by: string): RolloutRecord {
    const mine = this.active.get(id);
    const record = mine?.record ?? this.options.store.load(id);
    if (!record) throw new RolloutRefused(`no rollout ${id}`);
    if (FINAL.includes(record.state)) throw new RolloutRefused(`rollout ${id} is ${record.state}`);
    // already driven here, and running: nothing to resume
    if (mine && record.state === 'running') return structuredClone(record);
    if (!mine && ownerAlive(record.owner))
      throw new RolloutRefused(
        `rollout ${id} is driven by process ${record.owner?.pid} on ${record.owner?.host}`,
      );
    const wasPaused = record.state === 'paused';
    const now = this.now();
    record.state = 'running';
    delete record.reason;
    record.owner = currentOwner(now);
    this.note(record, by, 'resume', wasPaused ? undefined : 'taken over after the ops process stopped');
    this.options.store.save(record);
    if (!mine) this.adopt(record);
    this.emit(record, 'resumed', wasPaused ? {} : { detail: 'taken over' });
    if (!mine) void this.republishPending(record);
    return structuredClone(record);
  }

  /** Stops sending to new kiosks; answers and health of kiosks already sent it are still taken. */
  pause(id: string, by: string, reason = 'paused by operator'): RolloutRecord {
    return this.changeState(id, by, 'pause', reason);
  }

  /** Stops the rollout for good; kiosks already updated keep the payload (push another to undo). */
  abort(id: string, by: string, reason = 'aborted by operator'): RolloutRecord {
    return this.changeState(id, by, 'abort', reason);
  }

  /** The record as it stands (the in-memory one while driven here). */
  status(id: string): RolloutRecord | undefined {
    const record = this.active.get(id)?.record ?? this.options.store.load(id);
    return record ? structuredClone(record) : undefined;
  }

  /** Every rollout's record, oldest first. */
  list(): RolloutRecord[] {
    return this.options.store
      .list()
      .map((record) => structuredClone(this.active.get(record.id)?.record ?? record));
  }

  /**
   * Takes over every unfinished rollout no live process drives (an ops server restarted): the
   * running ones carry on, the paused ones stay paused under this process. Returns them.
   */
  takeOverInterrupted(by: string): RolloutRecord[] {
    const orphans = this.options.store
      .list()
      .filter((record) => !FINAL.includes(record.state) && !this.active.has(record.id))
      .filter((record) => !ownerAlive(record.owner));
    return orphans.map((record) => {
      if (record.state === 'running') return this.resume(record.id, by);
      record.owner = currentOwner(this.now());
      this.options.store.save(record);
      this.adopt(record);
      void this.republishPending(record);
      return structuredClone(record);
    });
  }

  /** Resolves when the rollout completes or aborts (stays pending while paused). */
  settled(id: string): Promise<RolloutRecord> {
    const active = this.active.get(id);
    if (active) return active.settled;
    const record = this.options.store.load(id);
    if (record && FINAL.includes(record.state)) return Promise.resolve(record);
    return Promise.reject(new RolloutRefused(`rollout ${id} is not driven by this process`));
  }

  /** Stops driving: unfinished rollouts stay `running` or `paused` in their records, for a resume. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe();
    await this.ticking;
    for (const active of this.active.values()) {
      delete active.record.owner;
      this.save(active);
    }
    this.active.clear();
  }

  // ---- state ----------------------------------------------------------------------------------

  private adopt(record: RolloutRecord): void {
    let settle: (record: RolloutRecord) => void = () => undefined;
    const settled = new Promise<RolloutRecord>((resolve) => {
      settle = resolve;
    });
    this.active.set(record.id, { record, dirty: false, savedAt: this.now(), settled, settle });
  }

  private note(record: RolloutRecord, by: string, action: RolloutAction, detail?: string): void {
    const at = this.now();
    record.history.push({ at, by, action, ...(detail ? { detail: detail.slice(0, 500) } : {}) });
    record.updatedAt = at;
  }

  private save(active: Active): void {
    active.record.updatedAt = this.now();
    this.options.store.save(active.record);
    active.dirty = false;
    active.savedAt = active.record.updatedAt;
  }

  private changeState(id: string, by: string, action: 'pause' | 'abort', reason: string): RolloutRecord {
    const active = this.active.get(id);
    if (!active) return requestRolloutAction(this.options.store, id, { action, by, reason, at: this.now() });
    this.apply(active, { action, by, reason, at: this.now() });
    return structuredClone(active.record);
  }

  private apply(active: Active, control: RolloutControl): void {
    const { record } = active;
    if (control.action === 'resume') {
      if (record.state === 'paused') this.resume(record.id, control.by);
      return;
    }
    if (FINAL.includes(record.state)) throw new RolloutRefused(`rollout ${record.id} is ${record.state}`);
    if (control.action === 'pause') {
      if (record.state !== 'running') return;
      record.state = 'paused';
      record.reason = control.reason ?? 'paused';
      this.note(record, control.by, 'pause', record.reason);
      this.save(active);
      this.emit(record, 'paused', { detail: record.reason });
      return;
    }
    this.finish(active, 'aborted', control.by, control.reason ?? 'aborted');
  }

  private finish(active: Active, state: 'completed' | 'aborted', by: string, reason?: string): void {
    const { record } = active;
    record.state = state;
    if (reason) record.reason = reason;
    delete record.owner;
    for (const kiosk of Object.values(record.kiosks)) delete kiosk.sent;
    this.note(record, by, state === 'completed' ? 'complete' : 'abort', reason);
    this.save(active);
    this.active.delete(record.id);
    this.emit(record, state, reason ? { detail: reason } : {});
    active.settle(structuredClone(record));
  }

  private emit(
    record: RolloutRecord,
    kind: RolloutProgressKind,
    extra: Partial<Pick<RolloutProgress, 'step' | 'kioskId' | 'outcome' | 'detail'>> = {},
  ): void {
    const progress: RolloutProgress = {
      rolloutId: record.id,
      at: this.now(),
      kind,
      state: record.state,
      ...extra,
      stepsPlanned: this.tally(record).steps,
      counts: { ...this.tally(record).counts },
    };
    for (const listener of this.listeners) {
      try {
        listener(progress);
      } catch {
        // a listener's fault must not stop a rollout
      }
    }
  }

  /** Counts and planned steps of a record, kept up to date by `setOutcome` (a fleet is 10,000). */
  private tally(record: RolloutRecord): Tally {
    let tally = this.tallies.get(record);
    if (!tally) {
      tally = {
        counts: countOutcomes(record.kiosks),
        steps: plannedSteps(record.plan, record.order.length),
      };
      this.tallies.set(record, tally);
    }
    return tally;
  }

  private setOutcome(active: Active, kioskId: string, outcome: KioskOutcome, detail?: string): void {
    const kiosk = active.record.kiosks[kioskId];
    if (!kiosk || kiosk.outcome === outcome) return;
    const { counts } = this.tally(active.record);
    counts[outcomeBucket(kiosk.outcome)]--;
    counts[outcomeBucket(outcome)]++;
    kiosk.outcome = outcome;
    if (detail) kiosk.detail = detail.slice(0, 500);
    else delete kiosk.detail;
    if (outcome !== 'pushed') delete kiosk.sent;
    active.dirty = true;
    this.emit(active.record, 'kiosk', {
      kioskId,
      outcome,
      ...(kiosk.step !== undefined ? { step: kiosk.step } : {}),
      ...(detail ? { detail } : {}),
    });
  }

  // ---- the kiosks' answers ---------------------------------------------------------------------

  private onKioskMessage(kioskId: string, leaf: string, payload: Buffer): void {
    for (const active of this.active.values()) {
      const kiosk = active.record.kiosks[kioskId];
      if (!kiosk?.messageId || !['pushed', 'applied', 'healthy'].includes(kiosk.outcome)) continue;
      const answer = this.driver(active.record.payload).answer(leaf, payload, kiosk.messageId);
      if (answer) this.onAnswer(active, kioskId, kiosk, answer);
    }
  }

  private onAnswer(active: Active, kioskId: string, kiosk: RolloutKiosk, answer: PayloadAnswer): void {
    kiosk.answeredAt = this.now();
    if (answer.status === 'pending') {
      // taken, not in effect yet: still `pushed` (its ack timeout still runs) until `applied`
      if (kiosk.outcome === 'pushed' && answer.detail) kiosk.detail = answer.detail;
      active.dirty = true;
      return;
    }
    if (answer.status === 'applied') {
      if (kiosk.outcome === 'pushed') this.setOutcome(active, kioskId, 'applied', answer.detail);
    } else this.setOutcome(active, kioskId, answer.status, answer.detail);
  }

  private async republishPending(record: RolloutRecord): Promise<void> {
    for (const kiosk of Object.values(record.kiosks)) {
      if (kiosk.outcome !== 'pushed' || !kiosk.sent) continue;
      const { topic, message, retain } = kiosk.sent;
      await this.options.fleet.publish(topic, message, { retain }).catch(() => undefined);
    }
  }

  // ---- advancing --------------------------------------------------------------------------------

  private tick(): Promise<void> {
    if (this.ticking || this.closed) return this.ticking ?? Promise.resolve();
    this.ticking = (async () => {
      for (const active of [...this.active.values()]) {
        try {
          await this.advance(active);
        } catch (error) {
          // e.g. the broker went away mid-step: paused, with the reason, for the operator to resume
          if (this.active.has(active.record.id) && active.record.state === 'running')
            this.apply(active, {
              action: 'pause',
              by: 'engine',
              reason: `paused: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
              at: this.now(),
            });
        }
        // answers are written in batches: one a second is enough, and the kiosks' status fills a gap
        const due = this.now() - active.savedAt >= (this.options.flushMs ?? 1000);
        if (active.dirty && due && this.active.has(active.record.id)) this.save(active);
      }
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async advance(active: Active): Promise<void> {
    const control = this.options.store.takeControl(active.record.id);
    if (control) this.apply(active, control);
    const { record } = active;
    if (!this.active.has(record.id)) return;
    // paused: nothing new is sent, but the kiosks already sent it are still judged
    this.checkAnswersAndHealth(active);
    if (this.abortIfDue(active) || record.state !== 'running') return;
    const step = record.steps.at(-1);
    if (step && step.endedAt === undefined) return this.advanceStep(active, step);
    if (!record.order.some((id) => record.kiosks[id]?.outcome === 'waiting'))
      return this.finish(active, 'completed', 'engine');
    await this.startStep(active);
    this.abortIfDue(active);
  }

  /** Kiosks past their ack timeout; kiosks sent the payload whose health regressed. */
  private checkAnswersAndHealth(active: Active): void {
    const { record } = active;
    const now = this.now();
    const driver = this.driver(record.payload);
    for (const [kioskId, kiosk] of Object.entries(record.kiosks)) {
      const snapshot = this.options.fleet.snapshot(kioskId);
      if (kiosk.outcome === 'pushed') {
        // an answer the ops process missed (it was down): the kiosk's status says it moved to it
        // (a kiosk that was there before it was sent will refuse it: its answer is awaited; one
        // that answered `pending` reports its version before the payload is in effect)
        const moved =
          kiosk.answeredAt === undefined &&
          snapshot !== undefined &&
          snapshot.seenAt >= (kiosk.pushedAt ?? 0) &&
          driver.runs(record.payload, snapshot) &&
          !(kiosk.baseline && driver.runs(record.payload, kiosk.baseline));
        if (moved) this.setOutcome(active, kioskId, 'applied', 'confirmed by its status');
        else if (now - (kiosk.pushedAt ?? now) >= record.plan.abort.ackTimeoutMs)
          this.setOutcome(active, kioskId, 'no-ack', `no answer within ${record.plan.abort.ackTimeoutMs} ms`);
        continue;
      }
      if (kiosk.outcome !== 'applied' && kiosk.outcome !== 'healthy') continue;
      const regression = healthRegression(kiosk.baseline, snapshot, false);
      if (regression) this.setOutcome(active, kioskId, 'unhealthy', regression);
    }
  }

  private abortIfDue(active: Active): boolean {
    const verdict = abortVerdict(active.record.plan, this.tally(active.record).counts);
    if (!verdict) return false;
    this.finish(active, 'aborted', 'engine', `failure threshold: ${verdict}`);
    return true;
  }

  /** Once every kiosk of the step answered, its health is soaked; then the step ends. */
  private advanceStep(active: Active, step: RolloutRecord['steps'][number]): void {
    const { record } = active;
    const kiosks = step.kiosks.map((id) => [id, record.kiosks[id]] as const);
    if (kiosks.some(([, kiosk]) => kiosk?.outcome === 'pushed')) return;
    const now = this.now();
    if (step.soakUntil === undefined) {
      step.soakUntil = now + record.plan.abort.soakMs;
      active.dirty = true;
    }
    if (now < step.soakUntil) return;
    for (const [kioskId, kiosk] of kiosks) {
      if (kiosk?.outcome !== 'applied') continue;
      const regression = healthRegression(kiosk.baseline, this.options.fleet.snapshot(kioskId), true);
      this.setOutcome(active, kioskId, regression ? 'unhealthy' : 'healthy', regression);
    }
    step.endedAt = now;
    active.dirty = true;
    this.note(record, 'engine', 'step', `step ${step.index} done`);
    this.emit(record, 'step-done', { step: step.index });
  }

  /**
   * Sends the payload to the next kiosks in order. A kiosk offline at its turn is skipped (not
   * sent: its outcome would be unknown). Each kiosk's message is recorded before it is published.
   */
  private async startStep(active: Active): Promise<void> {
    const { record } = active;
    const index = record.steps.length;
    const size = stepSize(record.plan, index, record.order.length);
    const driver = this.driver(record.payload);
    const chosen: string[] = [];
    for (const kioskId of record.order) {
      if (chosen.length >= size) break;
      const kiosk = record.kiosks[kioskId];
      if (kiosk?.outcome !== 'waiting') continue;
      const snapshot = this.options.fleet.snapshot(kioskId);
      if (!snapshot?.online) {
        kiosk.step = index;
        this.setOutcome(active, kioskId, 'skipped', 'offline at its turn');
        continue;
      }
      const prepared = driver.prepare(record.payload, kioskId);
      Object.assign(kiosk, {
        step: index,
        messageId: prepared.messageId,
        pushedAt: this.now(),
        baseline: structuredClone(snapshot),
        sent: { topic: prepared.topic, message: prepared.message, retain: prepared.retain },
      });
      this.setOutcome(active, kioskId, 'pushed');
      chosen.push(kioskId);
    }
    if (chosen.length === 0) return;
    record.steps.push({ index, kiosks: chosen, startedAt: this.now() });
    this.note(record, 'engine', 'step', `step ${index}: ${chosen.length} kiosk(s)`);
    // recorded before anything is published: a process killed now re-publishes the same messages
    this.save(active);
    this.emit(record, 'step-started', { step: index, detail: `${chosen.length} kiosk(s)` });
    for (const kioskId of chosen) {
      const sent = record.kiosks[kioskId]?.sent;
      if (sent) await this.options.fleet.publish(sent.topic, sent.message, { retain: sent.retain });
    }
  }
}

/**
 * Pause, resume or abort a rollout this process does not drive: handed to the process that does
 * (it takes the request on its next tick), or — no process drives it — pause and abort are written
 * to the record directly. Resuming needs a process to drive it (`RolloutEngine.resume`).
 */
export function requestRolloutAction(
  store: RolloutStore,
  id: string,
  control: RolloutControl,
): RolloutRecord {
  const record = store.load(id);
  if (!record) throw new RolloutRefused(`no rollout ${id}`);
  if (FINAL.includes(record.state)) throw new RolloutRefused(`rollout ${id} is ${record.state}`);
  if (ownerAlive(record.owner)) {
    store.requestControl(id, control);
    return record;
  }
  if (control.action === 'resume')
    throw new RolloutRefused(`rollout ${id} is not driven by any process: resume it with a broker`);
  if (control.action === 'pause' && record.state === 'paused') return record;
  record.state = control.action === 'pause' ? 'paused' : 'aborted';
  record.reason = control.reason ?? control.action;
  if (record.state === 'aborted') for (const kiosk of Object.values(record.kiosks)) delete kiosk.sent;
  record.history.push({ at: control.at, by: control.by, action: control.action, detail: record.reason });
  record.updatedAt = control.at;
  store.save(record);
  return record;
}

/** True for outcomes that count against the failure threshold. */
export function isFailure(outcome: KioskOutcome): boolean {
  return FAILED_OUTCOMES.includes(outcome);
}

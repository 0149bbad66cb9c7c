/**
 * The record of a staged rollout: what is rolled out (the payload), how (canary, rate, abort
 * criteria), who started, paused, resumed or aborted it and when, and each kiosk's outcome.
 *
 * Kept as one JSON file per rollout under `<opsDir>/rollouts/` (beside the operations keys),
 * written atomically (temp file, fsync, rename, fsync of the directory): a killed ops process
 * leaves either the previous record or the new one, never half of one, and the next process
 * resumes from it. Records are never deleted by the engine: they are the rollouts' history.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';

const KIOSK_ID = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/);
const INSTANT = z.number().int().min(0);

/** A signed configuration pushed to each kiosk on `kiosk/{id}/config` (kiosk layer). */
export const ConfigPayloadSchema = z.strictObject({
  kind: z.literal('config'),
  /** the kiosk-layer config version: must be above every target's current one */
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  settings: z.record(z.string(), z.unknown()),
  /** how long a kiosk may still apply the signed message */
  expiresInMs: z.number().int().positive(),
});
export type ConfigPayload = z.infer<typeof ConfigPayloadSchema>;

/** Maximum lifetime of a signed `command.request` (src/fleet/gate.ts): a software order is one. */
export const MAX_SOFTWARE_ORDER_MS = 24 * 3600_000;

/**
 * A software release (issue 14): each kiosk is sent a signed `update-software` order on
 * `kiosk/{id}/cmd`; it stages the version from the TUF repository and switches at idle.
 */
export const SoftwarePayloadSchema = z.strictObject({
  kind: z.literal('software'),
  /** the release version (MAJOR.MINOR.PATCH), published in the TUF repository */
  version: z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a version MAJOR.MINOR.PATCH'),
  /** how long a kiosk may still take the signed order (a command: at most 24 h) */
  expiresInMs: z.number().int().positive().max(MAX_SOFTWARE_ORDER_MS),
});
export type SoftwarePayload = z.infer<typeof SoftwarePayloadSchema>;

export const RolloutPayloadSchema = z.discriminatedUnion('kind', [
  ConfigPayloadSchema,
  SoftwarePayloadSchema,
]);
export type RolloutPayload = z.infer<typeof RolloutPayloadSchema>;
export type PayloadKind = RolloutPayload['kind'];

export const RolloutPlanSchema = z.strictObject({
  /** the canary group, updated (and soaked) first: explicit kiosks, or a percentage of the targets */
  canary: z.union([
    z.strictObject({ kiosks: z.array(KIOSK_ID).min(1) }),
    z.strictObject({ percent: z.number().gt(0).max(100) }),
  ]),
  /** after the canary: k kiosks per step, or doubling steps starting at `first` */
  rate: z.union([
    z.strictObject({ kind: z.literal('constant'), perStep: z.number().int().positive() }),
    z.strictObject({ kind: z.literal('exponential'), first: z.number().int().positive() }),
  ]),
  abort: z.strictObject({
    /** failed kiosks tolerated; one more aborts the rollout (0: the first failure aborts) */
    maxFailures: z.number().int().min(0),
    /** optional: abort when failed / decided kiosks exceeds this percentage */
    maxFailurePercent: z.number().min(0).max(100).optional(),
    /** a kiosk that has not answered its push by then has failed (`no-ack`) */
    ackTimeoutMs: z.number().int().positive(),
    /** health of a step's kiosks is watched this long after their last answer before the next step */
    soakMs: z.number().int().min(0),
  }),
});
export type RolloutPlan = z.infer<typeof RolloutPlanSchema>;

/** A kiosk's health as the retained status and the telemetry last showed it. */
export const KioskSnapshotSchema = z.strictObject({
  online: z.boolean(),
  /** why the kiosk serves no citizens; absent while in service */
  outOfService: z.string().optional(),
  /** device health from the status (`ok`, `degraded`, `missing`, `disabled`) */
  devices: z.record(z.string(), z.string()),
  /** health per part from the telemetry (`up`, `degraded`, `down`, `starting`, `stopped`) */
  parts: z.record(z.string(), z.string()),
  configVersions: z.strictObject({ fleet: z.number(), kiosk: z.number() }).optional(),
  software: z.string().optional(),
  /** when the kiosk last said something (ms) */
  seenAt: INSTANT,
});
export type KioskSnapshot = z.infer<typeof KioskSnapshotSchema>;

/**
 * A kiosk's way through the rollout. `waiting`: not its turn yet; `pushed`: sent, no answer yet;
 * `applied`: answered, its health watched; `healthy`: passed its step's soak (done). `skipped`:
 * offline at its turn, not sent (run another rollout for it). Failures: `refused` (the kiosk
 * refused the payload), `no-ack` (no answer in time), `rolled-back` (the kiosk reverted it),
 * `unhealthy` (its health regressed after the update).
 */
export const KioskOutcomeSchema = z.enum([
  'waiting',
  'pushed',
  'applied',
  'healthy',
  'skipped',
  'refused',
  'no-ack',
  'rolled-back',
  'unhealthy',
]);
export type KioskOutcome = z.infer<typeof KioskOutcomeSchema>;
export const FAILED_OUTCOMES: readonly KioskOutcome[] = ['refused', 'no-ack', 'rolled-back', 'unhealthy'];

export const RolloutKioskSchema = z.strictObject({
  outcome: KioskOutcomeSchema,
  /** the step that updates it (0 = canary); absent while waiting */
  step: z.number().int().min(0).optional(),
  /** id of the signed message sent to it */
  messageId: z.string().optional(),
  /** the signed message itself until the kiosk answers (re-published by a resumed rollout) */
  sent: z
    .strictObject({ topic: z.string().max(300), message: z.string().max(262_144), retain: z.boolean() })
    .optional(),
  pushedAt: INSTANT.optional(),
  answeredAt: INSTANT.optional(),
  /** its health when it was sent the payload: regressions are measured against this */
  baseline: KioskSnapshotSchema.optional(),
  /** short, PII-free reason of the outcome (refusal reason, regressed part…) */
  detail: z.string().max(500).optional(),
});
export type RolloutKiosk = z.infer<typeof RolloutKioskSchema>;

export const RolloutStepSchema = z.strictObject({
  index: z.number().int().min(0),
  kiosks: z.array(KIOSK_ID),
  startedAt: INSTANT,
  /** set once every kiosk of the step answered: the step ends at this instant if all stay healthy */
  soakUntil: INSTANT.optional(),
  endedAt: INSTANT.optional(),
});
export type RolloutStep = z.infer<typeof RolloutStepSchema>;

export const RolloutStateSchema = z.enum(['running', 'paused', 'completed', 'aborted']);
export type RolloutState = z.infer<typeof RolloutStateSchema>;

export const RolloutActionSchema = z.enum(['start', 'pause', 'resume', 'abort', 'complete', 'step']);
export type RolloutAction = z.infer<typeof RolloutActionSchema>;

export const RolloutRecordSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]{8,64}$/),
  createdAt: INSTANT,
  /** the operator who started it (name given to the tool, and the signing key's id) */
  createdBy: z.string().max(200),
  payload: RolloutPayloadSchema,
  plan: RolloutPlanSchema,
  state: RolloutStateSchema,
  /** why it is paused or aborted */
  reason: z.string().max(500).optional(),
  /** targets in rollout order: canary first */
  order: z.array(KIOSK_ID),
  kiosks: z.record(KIOSK_ID, RolloutKioskSchema),
  steps: z.array(RolloutStepSchema),
  /** every action on it: who, what, when */
  history: z.array(
    z.strictObject({
      at: INSTANT,
      by: z.string().max(200),
      action: RolloutActionSchema,
      detail: z.string().max(500).optional(),
    }),
  ),
  /** the ops process driving it now (a `pause` from another shell asks that process) */
  owner: z.strictObject({ pid: z.number().int(), host: z.string(), since: INSTANT }).optional(),
  updatedAt: INSTANT,
});
export type RolloutRecord = z.infer<typeof RolloutRecordSchema>;

/** A request from another process to the one driving a rollout. */
export const RolloutControlSchema = z.strictObject({
  action: z.enum(['pause', 'resume', 'abort']),
  by: z.string().max(200),
  reason: z.string().max(500).optional(),
  at: INSTANT,
});
export type RolloutControl = z.infer<typeof RolloutControlSchema>;

/** A record file that exists but is not a rollout record (edited by hand, disk fault). */
export class RolloutRecordUnreadable extends Error {
  override readonly name = 'RolloutRecordUnreadable';
}

/** Where rollouts live for an operations directory (the one holding ops.key). */
export function rolloutDir(opsDir: string): string {
  return join(opsDir, 'rollouts');
}

/** The rollout records of one operations directory. */
export class RolloutStore {
  readonly directory: string;

  constructor(opsDir: string) {
    this.directory = rolloutDir(opsDir);
  }

  private file(id: string): string {
    return join(this.directory, `${id}.json`);
  }

  private controlFile(id: string): string {
    return join(this.directory, `${id}.control.json`);
  }

  save(record: RolloutRecord): void {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    // typed by the engine; checked by the schema when read back
    writeFileAtomic(this.file(record.id), `${JSON.stringify(record)}\n`);
  }

  load(id: string): RolloutRecord | undefined {
    const file = this.file(id);
    if (!existsSync(file)) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new RolloutRecordUnreadable(`rollout record ${file} is not JSON`);
    }
    const parsed = RolloutRecordSchema.safeParse(json);
    if (!parsed.success)
      throw new RolloutRecordUnreadable(
        `rollout record ${file} is malformed: ${parsed.error.issues[0]?.message ?? 'unknown'}`,
      );
    return parsed.data;
  }

  /** Every record, oldest first; unreadable ones are left out (and named by `load`). */
  list(): RolloutRecord[] {
    if (!existsSync(this.directory)) return [];
    const records: RolloutRecord[] = [];
    for (const name of readdirSync(this.directory)) {
      if (!/^[a-z0-9-]+\.json$/.test(name) || name.endsWith('.control.json')) continue;
      try {
        const record = this.load(name.slice(0, -'.json'.length));
        if (record) records.push(record);
      } catch (error) {
        if (!(error instanceof RolloutRecordUnreadable)) throw error;
      }
    }
    return records.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Leaves a request for the process driving `id` (it takes it on its next tick). */
  requestControl(id: string, control: RolloutControl): void {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.controlFile(id), JSON.stringify(RolloutControlSchema.parse(control)));
  }

  /** The pending request for `id`, removed as it is taken; a malformed one is dropped. */
  takeControl(id: string): RolloutControl | undefined {
    const file = this.controlFile(id);
    if (!existsSync(file)) return undefined;
    let control: RolloutControl | undefined;
    try {
      control = RolloutControlSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch {
      control = undefined;
    }
    rmSync(file, { force: true });
    return control;
  }
}

/** Whether the process that owns a record still runs (same host only; another host: assumed so). */
export function ownerAlive(owner: RolloutRecord['owner']): boolean {
  if (!owner) return false;
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

export function currentOwner(now: number): NonNullable<RolloutRecord['owner']> {
  return { pid: process.pid, host: hostname(), since: now };
}

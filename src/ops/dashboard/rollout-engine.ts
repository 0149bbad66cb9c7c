/**
 * The dashboard's rollouts, driven by the staged-rollout engine (src/ops/rollout.ts) over the
 * dashboard's own MQTT client. Records are kept under `<ops dir>/rollouts/`, as `kiosk-ops
 * rollout` keeps them: a rollout the previous dashboard process left running is taken over at start.
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../util/log.js';
import {
  payloadDrivers,
  countOutcomes,
  MqttFleetFeed,
  type RolloutRecord,
  RolloutEngine,
  RolloutStore,
} from '../rollout.js';
import { MAX_SOFTWARE_ORDER_MS, type RolloutPayload, SoftwarePayloadSchema } from '../rollout-record.js';
import { ActionRefused, checkSettings, parse } from './actions.js';
import type { FleetFeed } from './feed.js';
import type { FleetModel } from './fleet-model.js';
import type { DashboardRollouts, RolloutView } from './rollouts.js';

const KioskId = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/);

/**
 * What the page sends to start a rollout: what to roll out (config `settings`, or a `software`
 * release), targets, canary, rate and abort threshold.
 */
export const StartRolloutSchema = z
  .strictObject({
    kiosks: z.array(KioskId).min(1).max(10_000),
    settings: z.record(z.string(), z.unknown()).optional(),
    /** absent: one above the highest own config version among the targets */
    version: z.number().int().positive().optional(),
    /** a release published in the TUF repository, instead of settings */
    software: SoftwarePayloadSchema.shape.version.optional(),
    canary: z.union([
      z.strictObject({ kiosks: z.array(KioskId).min(1).max(1000) }),
      z.strictObject({ percent: z.number().gt(0).max(100) }),
    ]),
    rate: z.union([
      z.strictObject({ kind: z.literal('constant'), perStep: z.number().int().positive() }),
      z.strictObject({ kind: z.literal('exponential'), first: z.number().int().positive() }),
    ]),
    maxFailures: z.number().int().min(0),
    maxFailurePercent: z.number().min(0).max(100).optional(),
    ackTimeoutMs: z.number().int().positive().max(3_600_000).default(60_000),
    soakMs: z.number().int().min(0).max(3_600_000).default(10_000),
  })
  .refine((request) => (request.settings === undefined) !== (request.software === undefined), {
    message: 'give either settings or a software version',
  });
type StartRollout = z.infer<typeof StartRolloutSchema>;

/** A software order lives a day at most (a command's limit); a config a week. */
function payloadOf(request: StartRollout, model: FleetModel): RolloutPayload {
  if (request.software !== undefined)
    return { kind: 'software', version: request.software, expiresInMs: MAX_SOFTWARE_ORDER_MS };
  const settings = request.settings ?? {};
  checkSettings(settings);
  const version = request.version ?? model.highestConfig(request.kiosks).kiosk + 1;
  return { kind: 'config', version, settings, expiresInMs: 7 * 24 * 3600_000 };
}

/** Most per-kiosk outcomes sent to the browser per rollout (the record keeps them all). */
const MAX_KIOSKS_SHOWN = 200;

function viewOf(record: RolloutRecord): RolloutView {
  const counts = countOutcomes(record.kiosks);
  // the ones that matter first: failures, then those in flight, then the rest in rollout order
  const rank = (outcome: string) =>
    ['refused', 'no-ack', 'rolled-back', 'unhealthy'].includes(outcome) ? 0 : outcome === 'waiting' ? 2 : 1;
  const kiosks = record.order
    .map((id) => ({ id, kiosk: record.kiosks[id] }))
    .sort((a, b) => rank(a.kiosk?.outcome ?? '') - rank(b.kiosk?.outcome ?? ''))
    .slice(0, MAX_KIOSKS_SHOWN)
    .map(({ id, kiosk }) => ({
      id,
      outcome: kiosk?.outcome ?? 'waiting',
      ...(kiosk?.step !== undefined ? { step: kiosk.step } : {}),
      ...(kiosk?.detail ? { detail: kiosk.detail } : {}),
    }));
  return {
    id: record.id,
    state: record.state,
    ...(record.reason ? { reason: record.reason } : {}),
    createdBy: record.createdBy,
    createdAt: new Date(record.createdAt).toISOString(),
    payload: record.history.find((entry) => entry.action === 'start')?.detail ?? record.payload.kind,
    counts: { ...counts },
    kiosks,
    steps: record.steps.length,
  };
}

/** The engine's refusals (bad plan, bad payload, wrong state) are the operator's to fix: a 400. */
function refusal(error: unknown): unknown {
  const name = (error as Error | undefined)?.name ?? '';
  if (['RolloutRefused', 'RolloutPlanInvalid', 'PayloadInvalid', 'ZodError'].includes(name))
    return new ActionRefused((error as Error).message.split('\n')[0]?.slice(0, 300) ?? name);
  return error;
}

export function dashboardRollouts(
  opsDir: string,
  log: Logger,
): (parts: { feed: FleetFeed; model: FleetModel; operatorKey: KeyObject }) => Promise<DashboardRollouts> {
  return async ({ feed, model, operatorKey }) => {
    const fleet = new MqttFleetFeed(feed.mqtt);
    await fleet.start();
    const store = new RolloutStore(opsDir);
    const engine = new RolloutEngine({ store, fleet, drivers: payloadDrivers(operatorKey) });
    // a rollout the previous dashboard (or CLI) process left unfinished continues here
    for (const record of engine.takeOverInterrupted('kiosk-ops serve'))
      log.info({ rollout: record.id, state: record.state }, 'ops dashboard: rollout taken over');
    const listeners = new Set<() => void>();
    engine.onProgress(() => {
      for (const listener of listeners) listener();
    });
    return {
      async start(input, operator) {
        const request = parse(StartRolloutSchema, input);
        const payload = payloadOf(request, model);
        try {
          const record = engine.start({
            payload,
            plan: {
              canary: request.canary,
              rate: request.rate,
              abort: {
                maxFailures: request.maxFailures,
                ...(request.maxFailurePercent !== undefined
                  ? { maxFailurePercent: request.maxFailurePercent }
                  : {}),
                ackTimeoutMs: request.ackTimeoutMs,
                soakMs: request.soakMs,
              },
            },
            targets: request.kiosks,
            by: operator,
          });
          log.info(
            { operator, rollout: record.id, targets: request.kiosks.length },
            'ops dashboard: rollout started',
          );
          return record.id;
        } catch (error) {
          throw refusal(error);
        }
      },
      async control(id, action, operator) {
        try {
          if (action === 'pause') engine.pause(id, operator);
          else if (action === 'resume') engine.resume(id, operator);
          else engine.abort(id, operator);
        } catch (error) {
          throw refusal(error);
        }
      },
      list: () => engine.list().slice(-20).map(viewOf),
      onChange: (listener) => void listeners.add(listener),
      async stop() {
        await engine.close();
        await fleet.stop();
      },
    };
  };
}

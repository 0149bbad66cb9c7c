/**
 * Pushed configuration on probation (issue 13): the generic probation of probation.ts with the
 * applied pushed layers as its value. The record lives beside the security state file, outside the
 * database, and is read by `kiosk start` before the runtime is built: the configuration a kiosk runs
 * (its broker URL among it) is chosen before its link connects.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { KioskConfig } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import { type AppliedLayers, layeredConfig, readStoredPushes } from './persisted.js';
import { readSecurityState, securityStatePath } from './state-file.js';
import { ProbationLedger } from './probation.js';

const AppliedConfigSchema = z.strictObject({
  version: z.number().int().min(0),
  configId: z.string().min(1).max(64),
  settings: z.record(z.string(), z.unknown()),
});

const AppliedLayersSchema: z.ZodType<AppliedLayers> = z.strictObject({
  fleet: AppliedConfigSchema.optional(),
  kiosk: AppliedConfigSchema.optional(),
});

export function configProbationPath(dataDir: string): string {
  return join(dataDir, 'identity', 'config-probation.json');
}

/** Two sets of layers are the same configuration when each source has the same config id. */
export function sameLayers(a: AppliedLayers, b: AppliedLayers): boolean {
  return a.fleet?.configId === b.fleet?.configId && a.kiosk?.configId === b.kiosk?.configId;
}

/** The layers of `candidate` that are not in `lastGood`: what a revert takes back, or a pass keeps. */
export function layersBeyond(
  candidate: AppliedLayers,
  lastGood: AppliedLayers,
): Array<{ source: 'fleet' | 'kiosk'; version: number; configId: string }> {
  return (['fleet', 'kiosk'] as const).flatMap((source) => {
    const layer = candidate[source];
    if (!layer || layer.configId === lastGood[source]?.configId) return [];
    return [{ source, version: layer.version, configId: layer.configId }];
  });
}

export function configProbationLedger(
  config: KioskConfig,
  log: Logger,
  now?: () => number,
): ProbationLedger<AppliedLayers> {
  return new ProbationLedger({
    file: configProbationPath(config.dataDir),
    valueSchema: AppliedLayersSchema,
    same: sameLayers,
    maxStarts: config.fleet.probation.maxStarts,
    onUnreadable: (movedTo) =>
      log.error({ movedTo }, 'fleet: config probation record unreadable; moved aside, started afresh'),
    ...(now ? { now } : {}),
  });
}

/**
 * `kiosk start`, before the runtime is built: counts this start against a configuration on
 * probation, reverts a crash loop, and returns the configuration to run — the file's with the
 * pushed layers chosen (the candidate's, or the last good ones after a revert).
 */
export async function chooseBootConfig(config: KioskConfig, log: Logger): Promise<KioskConfig> {
  const stored = await readStoredPushes(config);
  const recorded = readSecurityState(securityStatePath(config.dataDir));
  // a wiped or replaced store (fleet.ts): its layers are not the ones probation knows; the fleet
  // service keeps the kiosk out of service and starts the probation record afresh
  if (recorded && (recorded.storeLost || recorded.storeId !== stored.storeId))
    return layeredConfig(config, stored.layers, log);
  const state = configProbationLedger(config, log).boot(stored.layers);
  if (state.kind === 'probation')
    log.warn({ starts: state.candidate.starts }, 'fleet: starting with a configuration on probation');
  if (state.kind === 'reverted')
    log.warn(
      { cause: state.reverted.cause, detail: state.reverted.detail },
      'fleet: starting with the last good configuration (the one on probation was reverted)',
    );
  return layeredConfig(config, state.run, log);
}

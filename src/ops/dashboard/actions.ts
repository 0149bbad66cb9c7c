/**
 * The dashboard's actions: every one is signed here, with the operations key the serving process
 * holds, through the same signing as `kiosk-ops` (src/fleet/ops.ts): commands bound to their kiosk
 * with a nonce and an expiry, configs checked against the kiosk config schema before signing.
 * The browser never sees the key; it asks, with its session and CSRF token, and the server signs.
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import {
  checkPushableSettings,
  InvalidSettings,
  type KioskCommandName,
  signCommand,
  signConfig,
} from '../../fleet/index.js';
import { topics } from '../../link/topics.js';
import type { Logger } from '../../util/log.js';
import type { ActivityEntry, ActivityLog } from './activity.js';
import type { FleetModel } from './fleet-model.js';

/** An action the server refuses before signing anything (bad input): a 400 with this message. */
export class ActionRefused extends Error {
  override readonly name = 'ActionRefused';
}

const KioskIds = z
  .array(z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/))
  .min(1)
  .max(10_000);

/** The commands the dashboard offers (a subset of KIOSK_COMMANDS: the ones with a button). */
export const DASHBOARD_COMMANDS = {
  lock: 'lock',
  unlock: 'unlock',
  resync: 'resync-manifest',
} as const satisfies Record<string, KioskCommandName>;
export type DashboardCommand = keyof typeof DASHBOARD_COMMANDS;

export const CommandRequestSchema = z.strictObject({ kiosks: KioskIds });

export const ConfigRequestSchema = z.strictObject({
  /** absent: the whole fleet (retained on `fleet/config`) */
  kiosks: KioskIds.optional(),
  settings: z.record(z.string(), z.unknown()),
  /** absent: one above the highest the targets run */
  version: z.number().int().positive().optional(),
});

export interface OpsActionsOptions {
  key: KeyObject;
  model: FleetModel;
  activity: ActivityLog;
  publish: (topic: string, payload: string, retain: boolean) => Promise<void>;
  log: Logger;
  /** how long a kiosk may still run a command (default 5 minutes) */
  commandLifetimeMs?: number;
}

export class OpsActions {
  constructor(private readonly options: OpsActionsOptions) {}

  async command(name: DashboardCommand, input: unknown, operator: string): Promise<ActivityEntry[]> {
    const { kiosks } = parse(CommandRequestSchema, input);
    const command = DASHBOARD_COMMANDS[name];
    const entries: ActivityEntry[] = [];
    for (const kioskId of kiosks) {
      const message = signCommand({
        name: command,
        kioskId,
        key: this.options.key,
        expiresInMs: this.options.commandLifetimeMs ?? 5 * 60_000,
      });
      const ref = message.correlationId ?? message.id;
      entries.push(this.options.activity.record({ operator, action: command, kioskId, ref }));
      await this.options.publish(topics.cmd(kioskId), JSON.stringify(message), false);
    }
    this.options.log.info({ operator, command, kiosks: kiosks.length }, 'ops dashboard: command sent');
    return entries;
  }

  async pushConfig(input: unknown, operator: string): Promise<ActivityEntry[]> {
    const request = parse(ConfigRequestSchema, input);
    checkSettings(request.settings);
    const highest = this.options.model.highestConfig(request.kiosks);
    const version = request.version ?? (request.kiosks ? highest.kiosk : highest.fleet) + 1;
    const targets = request.kiosks ?? [undefined];
    const entries: ActivityEntry[] = [];
    for (const kioskId of targets) {
      const message = signConfig({
        version,
        settings: request.settings,
        key: this.options.key,
        ...(kioskId ? { kioskId } : {}),
      });
      entries.push(
        this.options.activity.record({
          operator,
          action: `config v${version}`,
          kioskId: kioskId ?? '*',
          ref: message.id,
        }),
      );
      const topic = kioskId ? topics.config(kioskId) : topics.fleetConfig();
      // retained: a kiosk offline now applies it when it comes back
      await this.options.publish(topic, JSON.stringify(message), true);
    }
    this.options.log.info({ operator, version, targets: targets.length }, 'ops dashboard: config pushed');
    return entries;
  }
}

/** Settings checked against the kiosk config schema before anything is signed. */
export function checkSettings(settings: Record<string, unknown>): void {
  try {
    checkPushableSettings(settings);
  } catch (error) {
    if (error instanceof InvalidSettings) throw new ActionRefused(`invalid settings: ${error.message}`);
    throw error;
  }
}

export function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ActionRefused(
      `bad request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}

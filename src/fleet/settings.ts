/**
 * Pushed configuration takes the file's path (STYLE.md practice 7): the pushed settings are merged
 * onto the file's configuration and the result passes the one schema, `KioskConfigSchema`. Which
 * changes wait for a restart is read from the schema's own `restart: true` meta.
 */
import { z } from 'zod';
import { type KioskConfig, KioskConfigSchema } from '../config/schema.js';

export type Settings = Record<string, unknown>;

/** Settings operations may not push: the kiosk's identity, the keys that authorise pushes, probation. */
const NOT_PUSHABLE = [
  'kiosk.id',
  'fleet.opsPublicKeys',
  'fleet.registrySigningKey',
  'fleet.registrySealingKey',
  'fleet.registryKeysFile',
  // a pushed change must not loosen the probation that judges it (fleet/probation.ts)
  'fleet.rollbackAfterMs',
  'fleet.probation',
] as const;

/** Pushed settings that fail the schema or touch a setting only provisioning may set. */
export class InvalidSettings extends Error {
  override readonly name = 'InvalidSettings';
}

function isPlainObject(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects; arrays and scalars of `overlay` replace those of `base`. */
export function mergeSettings(base: Settings, overlay: Settings): Settings {
  const merged: Settings = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeSettings(current, value) : value;
  }
  return merged;
}

function valueAt(settings: unknown, path: string): unknown {
  let node = settings;
  for (const part of path.split('.')) node = isPlainObject(node) ? node[part] : undefined;
  return node;
}

/** `base` with each layer of pushed settings merged on, validated by the one config schema. */
export function effectiveConfig(base: KioskConfig, layers: readonly Settings[]): KioskConfig {
  for (const layer of layers) {
    for (const path of NOT_PUSHABLE)
      if (valueAt(layer, path) !== undefined) throw new InvalidSettings(`${path} cannot be pushed`);
  }
  const merged = layers.reduce((config, layer) => mergeSettings(config, layer), base as Settings);
  const parsed = KioskConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidSettings(
      `${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`.slice(0, 500),
    );
  }
  return parsed.data;
}

/** Dotted paths of the leaves that differ between two configurations. */
export function changedPaths(before: unknown, after: unknown, prefix = ''): string[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((key) =>
      changedPaths(before[key], after[key], prefix ? `${prefix}.${key}` : key),
    );
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || '(root)'];
}

interface SchemaDef {
  type?: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

function needsRestart(schema: z.ZodType): boolean {
  return (z.globalRegistry.get(schema) as { restart?: unknown } | undefined)?.restart === true;
}

/** Whether changing `path` needs a restart: any schema node on the way carries `restart: true`. */
export function requiresRestart(path: string, schema: z.ZodType = KioskConfigSchema): boolean {
  let node: z.ZodType | undefined = schema;
  const parts = path.split('.');
  while (node) {
    if (needsRestart(node)) return true;
    const def: SchemaDef = (node as unknown as { _zod: { def: SchemaDef } })._zod.def;
    if (def.innerType) {
      node = def.innerType; // optional, default, nullable, readonly: the meta may sit on either side
      continue;
    }
    const part = parts.shift();
    if (part === undefined) return false;
    node = def.shape?.[part] ?? def.element ?? def.valueType;
  }
  return false;
}

/** A placeholder kiosk, so pushed settings can be checked against the schema before signing. */
const SETTINGS_CHECK_BASE = {
  kiosk: { id: 'settings-check' },
  mqtt: { url: 'mqtt://settings-check.invalid' },
};

/**
 * Throws InvalidSettings unless `settings` is a JSON object that the kiosk config schema accepts
 * when layered on a kiosk's configuration (unknown keys, wrong types, settings only provisioning
 * may set). Operations call it before signing; each kiosk checks again against its own file.
 */
export function checkPushableSettings(settings: unknown): asserts settings is Settings {
  if (!isPlainObject(settings)) throw new InvalidSettings('settings must be a JSON object');
  const base = KioskConfigSchema.parse(SETTINGS_CHECK_BASE);
  effectiveConfig(base, [settings]);
}

/**
 * Pushed configuration takes the file's path (STYLE.md practice 7): the pushed settings are merged
 * onto the file's configuration and the result passes the one schema, `KioskConfigSchema`. Which
 * changes wait for a restart is read from the schema's own `restart: true` meta.
 */
import { z } from 'zod';
import { type KioskConfig, KioskConfigSchema } from '../config/schema.js';

export type Settings = Record<string, unknown>;

/**
 * Settings operations may not push: the kiosk's identity, the keys that authorise pushes, the data
 * directory (it holds the pushed settings themselves: a new one would start without them), the
 * probation limits (a push must not loosen what judges it), and the trust anchors provisioning laid
 * down: the CSCAs that vouch for pushed master lists, and the install root holding the TUF root.
 * An operations key can then add master lists and CRLs, and order releases, but cannot choose what
 * verifies them.
 */
const NOT_PUSHABLE = [
  'kiosk.id',
  'dataDir',
  'fleet.opsPublicKeys',
  'fleet.registrySigningKey',
  'fleet.registrySealingKey',
  'fleet.registryKeysFile',
  // a pushed change must not loosen the probation that judges it (fleet/probation.ts)
  'fleet.rollbackAfterMs',
  'fleet.probation',
  // trust anchors: pushed master lists are checked against these CSCAs, releases against this root
  'sessions.trustList',
  'update.installRoot',
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

/** The value at dotted `path` of a settings object, undefined when absent. */
export function valueAt(settings: unknown, path: string): unknown {
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
  const changed: string[] = [];
  collectChanges(before, after, prefix, changed);
  return changed;
}

/**
 * Walks both configurations once; a path is only spelled out where the values are not the same
 * (a config has hundreds of leaves, and a push changes a few of them).
 */
function collectChanges(before: unknown, after: unknown, prefix: string, changed: string[]): void {
  // the same value (most leaves of two configs): equal without serialising it
  if (before === after) return;
  if (isPlainObject(before) && isPlainObject(after)) {
    // no closure here: this runs for every object of both configs
    for (const key of Object.keys(before))
      if (before[key] !== after[key])
        collectChanges(before[key], after[key], prefix ? `${prefix}.${key}` : key, changed);
    for (const key of Object.keys(after))
      if (!Object.hasOwn(before, key) && before[key] !== after[key])
        collectChanges(before[key], after[key], prefix ? `${prefix}.${key}` : key, changed);
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) changed.push(prefix || '(root)');
}

interface SchemaDef {
  type?: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

/** The `restart` mark of one schema node (its `.meta()`), if it carries one. */
function restartMark(schema: z.ZodType): boolean | undefined {
  const restart = (z.globalRegistry.get(schema) as { restart?: unknown } | undefined)?.restart;
  return typeof restart === 'boolean' ? restart : undefined;
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** How a setting takes effect: `live` (applied while running), `restart`, or not marked at all. */
export type SettingClass = 'live' | 'restart' | 'unmarked';

/**
 * The class of the setting at dotted `path`: the deepest `restart` mark on the way to it wins, so
 * a restart-required group may hold live fields (a device's path reopens it; enabling it restarts).
 */
export function settingClass(path: string, schema: z.ZodType = KioskConfigSchema): SettingClass {
  let node: z.ZodType | undefined = schema;
  let mark: boolean | undefined;
  const parts = path.split('.');
  while (node) {
    mark = restartMark(node) ?? mark;
    const def = defOf(node);
    if (def.innerType) {
      node = def.innerType; // optional, default, nullable, readonly: the meta may sit on either side
      continue;
    }
    const part = parts.shift();
    if (part === undefined) break;
    node = def.shape?.[part] ?? def.element ?? def.valueType;
  }
  return mark === undefined ? 'unmarked' : mark ? 'restart' : 'live';
}

/** Classes of the kiosk config's paths, as asked: the schema is a constant, and every push asks. */
const kioskSettingClasses = new Map<string, SettingClass>();

/** Whether changing `path` needs a restart: restart-marked, or not marked (never assumed live). */
export function requiresRestart(path: string, schema: z.ZodType = KioskConfigSchema): boolean {
  if (schema !== KioskConfigSchema) return settingClass(path, schema) !== 'live';
  let known = kioskSettingClasses.get(path);
  if (known === undefined) {
    known = settingClass(path, schema);
    // bounded: paths come from the schema's own shape (records' keys are one setting each)
    if (kioskSettingClasses.size < 10_000) kioskSettingClasses.set(path, known);
  }
  return known !== 'live';
}

/**
 * Dotted paths of every setting of the schema: object fields are walked into, arrays and records
 * are one setting each (they are pushed whole).
 */
export function settingPaths(schema: z.ZodType = KioskConfigSchema, prefix = ''): string[] {
  const def = defOf(schema);
  if (def.innerType) return settingPaths(def.innerType, prefix);
  if (def.shape)
    return Object.entries(def.shape).flatMap(([key, child]) =>
      settingPaths(child, prefix ? `${prefix}.${key}` : key),
    );
  return [prefix];
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

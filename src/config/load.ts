import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { type KioskConfig, KioskConfigSchema } from './schema.js';

/** A configuration that cannot be used, with one line per problem: `path.to.field: reason`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration (${source}):\n  ${problems.join('\n  ')}`);
  }
}

function describePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** Turns zod issues into `field: reason` lines; unknown keys are named one by one. */
export function formatIssues(error: z.ZodError): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${describePath([...issue.path, key])}: unknown setting`);
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && message.startsWith('Invalid input')) {
      message = `expected ${issue.expected}, ${issue.input === undefined ? 'but it is missing' : `got ${JSON.stringify(issue.input)}`}`;
    }
    lines.push(`${describePath(issue.path)}: ${message}`);
  }
  return lines;
}

export function parseConfig(input: unknown, source: string): KioskConfig {
  const result = KioskConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(source, formatIssues(result.error));
  return result.data;
}

// ---- environment overrides, derived from the schema -------------------------------------------

interface ZodDefLike {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
}

function defOf(schema: z.ZodType): ZodDefLike {
  return (schema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (
      def.innerType &&
      ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type)
    ) {
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      current = def.in;
    } else {
      return current;
    }
  }
}

export interface EnvSetting {
  variable: string;
  path: string[];
  /** strings and enums take the raw text; numbers, booleans and literals are parsed as JSON */
  raw: boolean;
}

const toEnvWord = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** Every leaf setting of the schema and the variable that overrides it: `mqtt.url` → `KIOSK_MQTT_URL`. */
export function envSettings(schema: z.ZodType = KioskConfigSchema, prefix: string[] = []): EnvSetting[] {
  const inner = unwrap(schema);
  const def = defOf(inner);
  if (def.type === 'object' && def.shape) {
    return Object.entries(def.shape).flatMap(([key, child]) => envSettings(child, [...prefix, key]));
  }
  return [
    {
      variable: ['KIOSK', ...prefix.map(toEnvWord)].join('_'),
      path: prefix,
      raw: def.type === 'string' || def.type === 'enum',
    },
  ];
}

type Json = Record<string, unknown>;

export function applyEnvOverrides(input: unknown, env: NodeJS.ProcessEnv): unknown {
  const base: Json = typeof input === 'object' && input !== null ? structuredClone(input as Json) : {};
  for (const setting of envSettings()) {
    const text = env[setting.variable];
    if (text === undefined) continue;
    let value: unknown = text;
    if (!setting.raw) {
      try {
        value = JSON.parse(text);
      } catch {
        value = text; // left as text, so the schema reports it with the field's name
      }
    }
    let node = base;
    for (const key of setting.path.slice(0, -1)) {
      const next = node[key];
      node[key] = typeof next === 'object' && next !== null ? next : {};
      node = node[key] as Json;
    }
    node[setting.path.at(-1) as string] = value;
  }
  return base;
}

/** Reads a JSON configuration file, applies `KIOSK_*` environment overrides, validates. */
export async function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KioskConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(file, [`(file): cannot read it (${code})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`(file): not valid JSON (${(error as Error).message})`]);
  }
  return parseConfig(await withRegistryKeysFile(applyEnvOverrides(json, env), file), file);
}

/**
 * Fills `fleet.registrySigningKey`/`registrySealingKey` from `fleet.registryKeysFile` when the file
 * is named and the keys are not inline, so a shipped configuration can point at where provisioning
 * put the keys (like the TLS files) instead of carrying key material. The keys still pass the schema.
 */
async function withRegistryKeysFile(input: unknown, source: string): Promise<unknown> {
  if (!isRecord(input) || !isRecord(input.fleet)) return input;
  const path = input.fleet.registryKeysFile;
  if (typeof path !== 'string' || path === '') return input;
  let keys: unknown;
  try {
    keys = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'not valid JSON';
    throw new ConfigError(source, [`fleet.registryKeysFile: cannot read the registry keys (${code})`]);
  }
  if (!isRecord(keys))
    throw new ConfigError(source, ['fleet.registryKeysFile: expected {"signing", "sealing"}']);
  return {
    ...input,
    fleet: {
      ...input.fleet,
      registrySigningKey: input.fleet.registrySigningKey ?? keys.signing,
      registrySealingKey: input.fleet.registrySealingKey ?? keys.sealing,
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

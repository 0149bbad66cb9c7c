/**
 * Settings that need a restart take effect at the next start: the runtime is built from the file's
 * configuration with the applied pushed settings (as the fleet layer stored them) layered on top.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KioskConfig } from '../config/schema.js';
import { SqliteDatabase } from '../store/index.js';
import type { Logger } from '../util/log.js';
import { effectiveConfig, InvalidSettings, type Settings } from './settings.js';

/** A pushed configuration as applied from one source (`fleet/config` or the kiosk's own topic). */
export interface AppliedConfig {
  version: number;
  configId: string;
  settings: Settings;
}

/** The pushed layers in force: the fleet's, then the kiosk's own on top. */
export interface AppliedLayers {
  fleet?: AppliedConfig;
  kiosk?: AppliedConfig;
}

/** What the store holds of pushed configuration, read before the runtime opens it. */
export interface StoredPushes {
  layers: AppliedLayers;
  /** the store's id (fleet_state `store.id`), compared with the security state's */
  storeId?: string;
}

/** The pushed layers the store holds (as applied before the last stop); none without a store. */
export async function readPushedLayers(config: KioskConfig): Promise<AppliedLayers> {
  return (await readStoredPushes(config)).layers;
}

export async function readStoredPushes(config: KioskConfig): Promise<StoredPushes> {
  const file = join(config.dataDir, 'kiosk.sqlite');
  if (!existsSync(file)) return { layers: {} };
  const db = await SqliteDatabase.open(file, { readOnly: true });
  try {
    const table = await db.get<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'fleet_state'",
    );
    if (!table) return { layers: {} };
    const rows = await db.all<{ key: string; value: string }>(
      "SELECT key, value FROM fleet_state WHERE key IN ('applied.fleet', 'applied.kiosk', 'store.id')",
    );
    const stored: StoredPushes = { layers: {} };
    for (const row of rows) {
      if (row.key === 'store.id') stored.storeId = String(JSON.parse(row.value));
      else
        stored.layers[row.key === 'applied.fleet' ? 'fleet' : 'kiosk'] = JSON.parse(
          row.value,
        ) as AppliedConfig;
    }
    return stored;
  } finally {
    await db.close();
  }
}

/** `config` with `layers` on top; `config` itself when they no longer fit the file (logged). */
export function layeredConfig(config: KioskConfig, layers: AppliedLayers, log: Logger): KioskConfig {
  const settings = [layers.fleet?.settings, layers.kiosk?.settings].filter(
    (layer): layer is Settings => layer !== undefined,
  );
  if (settings.length === 0) return config;
  try {
    return effectiveConfig(config, settings);
  } catch (error) {
    if (!(error instanceof InvalidSettings)) throw error;
    log.warn({ detail: error.message }, 'fleet: stored pushed settings no longer fit the file; file used');
    return config;
  }
}

/** `config` with the pushed settings applied before the last stop; `config` itself if there are none. */
export async function withPushedSettings(config: KioskConfig, log: Logger): Promise<KioskConfig> {
  return layeredConfig(config, await readPushedLayers(config), log);
}

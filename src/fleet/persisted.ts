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

/** `config` with the pushed settings applied before the last stop; `config` itself if there are none. */
export async function withPushedSettings(config: KioskConfig, log: Logger): Promise<KioskConfig> {
  const file = join(config.dataDir, 'kiosk.sqlite');
  if (!existsSync(file)) return config;
  const db = await SqliteDatabase.open(file, { readOnly: true });
  try {
    const table = await db.get<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'fleet_state'",
    );
    if (!table) return config;
    const rows = await db.all<{ key: string; value: string }>(
      "SELECT key, value FROM fleet_state WHERE key IN ('applied.fleet', 'applied.kiosk') ORDER BY key",
    );
    // fleet first, then the kiosk's own layer ('applied.fleet' sorts before 'applied.kiosk')
    const layers = rows.map((row) => (JSON.parse(row.value) as { settings: Settings }).settings);
    return layers.length === 0 ? config : effectiveConfig(config, layers);
  } catch (error) {
    if (!(error instanceof InvalidSettings)) throw error;
    log.warn({ detail: error.message }, 'fleet: stored pushed settings no longer fit the file; file used');
    return config;
  } finally {
    await db.close();
  }
}

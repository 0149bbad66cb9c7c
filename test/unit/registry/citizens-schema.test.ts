/**
 * The reference registry's pickups table learnt the `withdrawn` state (a resync must not re-stage a
 * withdrawn pickup): a registry file made before keeps its rows and accepts the new state.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RegistryCitizens } from '../../../src/registry/citizens.js';
import { loadOrCreateRegistryKeys } from '../../../src/registry/keys.js';
import { SqliteDatabase } from '../../../src/store/sqlite.js';
import { quietLogger } from '../../helpers/logs.js';

describe('reference registry: pickups table', () => {
  it('rebuilds a table made before withdrawals, keeping its rows, and accepts withdrawn', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'registry-schema-'));
    const db = await SqliteDatabase.open(join(dir, 'registry.sqlite'));
    await db.exec(`
      CREATE TABLE pickups (
        pickup_id TEXT PRIMARY KEY,
        kiosk_id  TEXT NOT NULL,
        id_number TEXT NOT NULL,
        state     TEXT NOT NULL CHECK (state IN ('waiting-for-key', 'staged', 'completed', 'retracted'))
      );
      INSERT INTO pickups VALUES ('PK-OLD-1', 'hn-0001', '001234567890', 'staged');`);
    await expect(db.run(`UPDATE pickups SET state = 'withdrawn'`)).rejects.toThrow(/CHECK/);

    const published: string[] = [];
    const citizens = await RegistryCitizens.open(db, {
      log: quietLogger(),
      keys: loadOrCreateRegistryKeys(join(dir, 'keys.json')),
      publish: async (topic) => {
        published.push(topic);
      },
    });
    expect(await citizens.pickupState('PK-OLD-1')).toBe('staged');
    await citizens.withdrawPickup('hn-0001', 'PK-OLD-1');
    expect(await citizens.pickupState('PK-OLD-1')).toBe('withdrawn');
    expect(published).toEqual(['cccd/v1/kiosk/hn-0001/manifest']);
    // opening again finds the current table and changes nothing
    await RegistryCitizens.open(db, {
      log: quietLogger(),
      keys: loadOrCreateRegistryKeys(join(dir, 'keys.json')),
      publish: async () => undefined,
    });
    expect(await citizens.pickupState('PK-OLD-1')).toBe('withdrawn');
    await db.close();
  });
});

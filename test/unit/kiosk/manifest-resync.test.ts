/**
 * The pure sorting of a manifest resync (src/kiosk/manifest-resync.ts `classify`), over random
 * vaults and registry lists. The wiring (gate, inbox, withdraw, event) is tested end to end in
 * test/integration/fleet/resync.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/kiosk/manifest-resync.js';
import type { CardState } from '../../../src/kiosk/vault.js';

const REQUESTED_AT = 1_000;
const CARD_STATES: Array<CardState | null> = [
  null,
  'in-slot',
  'at-station',
  'in-tray',
  'dispensed',
  'captured',
  'withdrawn',
];
const IN_VAULT = new Set<CardState | null>(['in-slot', 'at-station', 'in-tray']);

const pickupId = fc.integer({ min: 0, max: 30 }).map((n) => `PK-${n}`);
const localPickup = fc.record({
  pickup_id: pickupId,
  manifest: fc.constantFrom('staged' as const, 'withdrawn' as const),
  staged_at: fc.constantFrom(REQUESTED_AT - 10, REQUESTED_AT, REQUESTED_AT + 10),
  card: fc.constantFrom(...CARD_STATES),
});
const vault = fc.uniqueArray(localPickup, { selector: (row) => row.pickup_id, maxLength: 25 });
const registryList = fc.uniqueArray(pickupId, { maxLength: 25 }).map((ids) => new Set(ids));

describe('manifest resync: classify', () => {
  it('withdraws only what the kiosk had staged before asking and the registry does not list', () => {
    fc.assert(
      fc.property(vault, registryList, (local, listed) => {
        const { withdrawn } = classify(local, listed, REQUESTED_AT);
        for (const id of withdrawn) {
          const row = local.find((candidate) => candidate.pickup_id === id);
          expect(listed.has(id)).toBe(false);
          expect(row?.manifest).toBe('staged');
          expect(row && row.staged_at < REQUESTED_AT).toBe(true);
          // a card that already left the vault is not withdrawn again
          expect(row?.card === null || IN_VAULT.has(row?.card ?? null)).toBe(true);
        }
      }),
    );
  });

  it('reports every card in the vault whose pickup the registry does not list, unless staged since the request', () => {
    fc.assert(
      fc.property(vault, registryList, (local, listed) => {
        const { unknownCards } = classify(local, listed, REQUESTED_AT);
        const expected = local
          .filter((row) => IN_VAULT.has(row.card) && !listed.has(row.pickup_id))
          .filter((row) => !(row.manifest === 'staged' && row.staged_at >= REQUESTED_AT))
          .map((row) => row.pickup_id);
        expect([...unknownCards].sort()).toEqual(expected.sort());
      }),
    );
  });

  it('accounts for every listed pickup once: in sync, staged by the resync, not staged, or already gone', () => {
    fc.assert(
      fc.property(vault, registryList, (local, listed) => {
        const result = classify(local, listed, REQUESTED_AT);
        const gone = [...listed].filter((id) => {
          const card = local.find((row) => row.pickup_id === id)?.card;
          return card === 'dispensed' || card === 'captured';
        });
        // a dispensed or captured card is on its way to the registry as its own event
        const accounted = result.inSync + result.staged.length + result.notStaged.length + gone.length;
        expect(accounted).toBe(listed.size);
        expect(result.staged.every((id) => listed.has(id))).toBe(true);
        expect(result.notStaged.every((id) => listed.has(id))).toBe(true);
        expect(result.withdrawn.some((id) => listed.has(id))).toBe(false);
      }),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CardOut,
  type JournalEntry,
  type LoadIntent,
  planReconcile,
  type ReconcileInput,
} from '../../../src/kiosk/reconcile.js';

const AT_STATION: CardOut = { pickupId: 'P1', state: 'at-station', slot: 4 };
const IN_TRAY: CardOut = { pickupId: 'P1', state: 'in-tray', slot: 4 };
const NOTHING = { tray: false, station: false, atStop: true };
const last = (
  op: JournalEntry['op'],
  outcome: JournalEntry['outcome'] = 'done',
  pickupId: string | null = 'P1',
) => ({
  op,
  slot: op === 'moveToStation' || op === 'returnToSlot' ? 4 : null,
  pickupId,
  outcome,
});
const plan = (input: Partial<ReconcileInput>) =>
  planReconcile({ cards: [], loads: [], last: undefined, sensors: NOTHING, ...input });

describe('reconciling the inventory with the board sensors', () => {
  it('a card the station sensor sees goes back to its slot; one in the tray goes to the bin', () => {
    expect(plan({ cards: [AT_STATION], sensors: { ...NOTHING, station: true } })).toEqual({
      kind: 'ok',
      actions: [{ kind: 'back-in-slot', pickupId: 'P1', slot: 4, move: true }],
    });
    expect(plan({ cards: [IN_TRAY], sensors: { ...NOTHING, tray: true } })).toEqual({
      kind: 'ok',
      actions: [{ kind: 'capture', pickupId: 'P1', slot: 4, move: true }],
    });
  });

  it('an empty tray is a completion only after a PRESENT for this card, never after a retract', () => {
    expect(plan({ cards: [IN_TRAY], last: last('present') }).kind === 'ok').toBe(true);
    expect(plan({ cards: [IN_TRAY], last: last('present') })).toMatchObject({
      actions: [{ kind: 'complete' }],
    });
    expect(plan({ cards: [IN_TRAY], last: last('retract', 'sent') })).toMatchObject({
      actions: [{ kind: 'capture', move: false }],
    });
    // the journal speaks of another card: no guess
    expect(plan({ cards: [IN_TRAY], last: last('present', 'done', 'P0') })).toMatchObject({ kind: 'refuse' });
    expect(plan({ cards: [IN_TRAY], last: undefined })).toMatchObject({ kind: 'refuse' });
  });

  it('refuses to guess: card between stops, an unrecorded card, both sensors, two cards out', () => {
    expect(plan({ cards: [AT_STATION], sensors: { ...NOTHING, atStop: false } })).toMatchObject({
      kind: 'refuse',
      reason: 'card-between-stops',
      pickupId: 'P1',
    });
    expect(plan({ sensors: { ...NOTHING, station: true } })).toMatchObject({ reason: 'unrecorded-card' });
    expect(plan({ cards: [AT_STATION], sensors: { tray: true, station: true, atStop: true } })).toMatchObject(
      {
        reason: 'sensors-disagree',
      },
    );
    expect(plan({ cards: [AT_STATION, { ...IN_TRAY, pickupId: 'P2', slot: 5 }] })).toMatchObject({
      reason: 'several-cards-out',
    });
  });

  it('a vault-load card: back to its slot, recorded if identified; an empty slot ends the intent', () => {
    const loads: LoadIntent[] = [{ slot: 6, phase: 'identified', pickupId: 'P9' }];
    expect(plan({ loads, sensors: { ...NOTHING, station: true } })).toEqual({
      kind: 'ok',
      actions: [{ kind: 'load-back-in-slot', slot: 6, pickupId: 'P9', move: true }],
    });
    expect(
      plan({
        loads: [{ slot: 6, phase: 'out' }],
        last: { op: 'moveToStation', slot: 6, pickupId: null, outcome: 'no-card' },
      }),
    ).toEqual({ kind: 'ok', actions: [{ kind: 'load-slot-empty', slot: 6 }] });
    expect(plan({ loads: [{ slot: 6, phase: 'unidentified' }] })).toEqual({ kind: 'ok', actions: [] });
  });

  it('whatever the records and sensors: never a completion unless PRESENT was the last move for that card', () => {
    const ops = ['moveToStation', 'present', 'retract', 'returnToSlot'] as const;
    const outcomes = ['sent', 'done', 'no-card', 'failed'] as const;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pickupId: fc.constantFrom('P1', 'P2'),
            state: fc.constantFrom('at-station', 'in-tray'),
            slot: fc.nat(63),
          }),
          { maxLength: 2 },
        ),
        fc.option(
          fc.record({
            op: fc.constantFrom(...ops),
            slot: fc.option(fc.nat(63)),
            pickupId: fc.option(fc.constantFrom('P1', 'P2')),
            outcome: fc.constantFrom(...outcomes),
          }),
          { nil: undefined },
        ),
        fc.record({ tray: fc.boolean(), station: fc.boolean(), atStop: fc.boolean() }),
        (cards, journal, sensors) => {
          const result = planReconcile({ cards: cards as CardOut[], loads: [], last: journal, sensors });
          if (result.kind !== 'ok') return;
          for (const action of result.actions) {
            if (action.kind === 'complete') {
              expect(journal?.op).toBe('present');
              expect(journal?.pickupId).toBe(action.pickupId);
              expect(sensors.tray || sensors.station).toBe(false);
            }
            // nothing moves a card the board cannot see at a stop
            if ('move' in action && action.move) expect(sensors.atStop).toBe(true);
          }
        },
      ),
    );
  });
});

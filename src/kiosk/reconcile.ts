/**
 * Inventory ↔ mechanics reconciliation after a board (re)connect, a board reset (the watchdog is a
 * designed feature) or a kiosk restart.
 *
 * The board knows only its sensors (PROTOCOL.md "Boot": tray D2, chip station D9, carriage at a
 * stop D7); the store knows which card was outside its slot and — from the move journal written
 * BEFORE every move — which move it was last told to make. Together they tell where each card is,
 * or they do not: then the kiosk refuses to guess, goes out of service and reports
 * `fault.inventory`. In particular a card is never recorded as taken (`pickup.completed`) unless
 * the last move was the PRESENT that put it in the tray, and never sent back to a slot it cannot be
 * shown to have left and reached the station from.
 */
import { EventEmitter } from 'node:events';
import type {
  CardDispenser,
  CardSensors,
  DispenserCallOptions,
  DispenserEvents,
  MechanicsState,
} from '../../devices/index.js';
import { DeviceFault } from '../../devices/index.js';
import type { MessageBody } from '../link/messages.js';
import type { Store, Transaction } from '../store/index.js';
import type { Logger } from '../util/log.js';
import type { CardState, Vault } from './vault.js';

export type MoveOp = 'moveToStation' | 'present' | 'retract' | 'returnToSlot';
export type MoveOutcome = 'sent' | 'done' | 'no-card' | 'failed';

/** The last move the mechanics were told to make; `pickupId` is the card outside its slot then. */
export interface JournalEntry {
  op: MoveOp;
  slot: number | null;
  pickupId: string | null;
  outcome: MoveOutcome;
}

/** The one-row journal of the dispenser's last move (migration 4). */
export class MoveJournal {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Before a move: what it is and whose card rides it (the one card in transit, if any). */
  async sent(op: MoveOp, slot: number | null): Promise<void> {
    await this.store.transaction(async (tx) => {
      const card = await tx.get<{ pickup_id: string }>(
        `SELECT pickup_id FROM vault_cards WHERE state IN ('at-station', 'in-tray') LIMIT 1`,
      );
      await tx.run(
        `INSERT INTO dispenser_journal (id, op, slot, pickup_id, outcome, updated_at) VALUES (1, ?, ?, ?, 'sent', ?)
         ON CONFLICT (id) DO UPDATE SET op = excluded.op, slot = excluded.slot, pickup_id = excluded.pickup_id,
           outcome = 'sent', updated_at = excluded.updated_at`,
        [op, slot, card?.pickup_id ?? null, this.now()],
      );
    });
  }

  async finished(outcome: Exclude<MoveOutcome, 'sent'>): Promise<void> {
    await this.store.transaction((tx) =>
      tx.run('UPDATE dispenser_journal SET outcome = ?, updated_at = ? WHERE id = 1', [outcome, this.now()]),
    );
  }

  async last(): Promise<JournalEntry | undefined> {
    const row = await this.store.read().get<{
      op: MoveOp;
      slot: number | null;
      pickup_id: string | null;
      outcome: MoveOutcome;
    }>('SELECT op, slot, pickup_id, outcome FROM dispenser_journal WHERE id = 1');
    return row ? { op: row.op, slot: row.slot, pickupId: row.pickup_id, outcome: row.outcome } : undefined;
  }
}

/** Forgets the last move in the caller's transaction: staff undid it by hand (`Vault.clearByStaff`). */
export async function clearMoveJournal(tx: Transaction): Promise<void> {
  await tx.run('DELETE FROM dispenser_journal WHERE id = 1');
}

/**
 * The dispenser with every move journaled before it is sent and after it ends. Everything that
 * moves a card (sessions, recovery, `kiosk vault load`) goes through this wrapper.
 */
export class JournaledDispenser extends EventEmitter<DispenserEvents> implements CardDispenser {
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly inner: CardDispenser,
    private readonly journal: MoveJournal,
  ) {
    super();
    inner.on('health', (health, detail) => this.emit('health', health, detail));
    inner.on('tray', (state) => this.emit('tray', state));
    inner.on('taken', () => this.emit('taken'));
    inner.on('boot', (sensors) => this.emit('boot', sensors));
  }

  get health() {
    return this.inner.health;
  }
  get healthDetail() {
    return this.inner.healthDetail;
  }
  get trayOccupied() {
    return this.inner.trayOccupied;
  }
  start(): Promise<void> {
    return this.inner.start();
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
  status(options?: DispenserCallOptions): Promise<MechanicsState> {
    return this.inner.status(options);
  }
  sensors(options?: DispenserCallOptions): Promise<CardSensors> {
    return this.inner.sensors(options);
  }
  setLedRing(brightness: number): void {
    this.inner.setLedRing(brightness);
  }
  moveToStation(slot: number, options?: DispenserCallOptions): Promise<void> {
    return this.journaled('moveToStation', slot, () => this.inner.moveToStation(slot, options));
  }
  present(options?: DispenserCallOptions): Promise<void> {
    return this.journaled('present', null, () => this.inner.present(options));
  }
  retract(options?: DispenserCallOptions): Promise<void> {
    return this.journaled('retract', null, () => this.inner.retract(options));
  }
  returnToSlot(slot: number, options?: DispenserCallOptions): Promise<void> {
    return this.journaled('returnToSlot', slot, () => this.inner.returnToSlot(slot, options));
  }

  /**
   * Runs `work` with the mechanics to itself: a reconciliation never interleaves its moves with a
   * vault load's (or another reconciliation's) in the same process.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work, work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async journaled(op: MoveOp, slot: number | null, move: () => Promise<void>): Promise<void> {
    await this.journal.sent(op, slot);
    try {
      await move();
    } catch (error) {
      const noCard = error instanceof DeviceFault && error.fault === 'noCard';
      await this.journal.finished(noCard ? 'no-card' : 'failed').catch(() => undefined);
      throw error;
    }
    await this.journal.finished('done');
  }
}

/** The session devices with the dispenser's moves journaled (main.ts wires this). */
export function withMoveJournal<T extends { dispenser?: CardDispenser }>(devices: T, store: Store): T {
  if (!devices.dispenser || devices.dispenser instanceof JournaledDispenser) return devices;
  return { ...devices, dispenser: new JournaledDispenser(devices.dispenser, new MoveJournal(store)) };
}

// ---- the decision (pure) ---------------------------------------------------------------------------

export interface CardOut {
  pickupId: string;
  state: Extract<CardState, 'at-station' | 'in-tray'>;
  slot: number;
}

/** A slot `kiosk vault load` was working on (vault-load.ts). */
export interface LoadIntent {
  slot: number;
  phase: 'out' | 'identified' | 'unidentified';
  pickupId?: string;
}

export type InventoryFault = MessageBody<'fault.inventory'>['reason'];

export type ReconcileAction =
  /** the card goes (move) or is (no move) back in its slot */
  | { kind: 'back-in-slot'; pickupId: string; slot: number; move: boolean }
  /** the card goes (move) or went (no move) to the capture bin */
  | { kind: 'capture'; pickupId: string; slot: number; move: boolean }
  /** PRESENT put it in the tray and the tray is empty: the citizen took it */
  | { kind: 'complete'; pickupId: string; slot: number }
  /** a vault-load card goes (move) or is back in its slot: recorded if it was identified */
  | { kind: 'load-back-in-slot'; slot: number; pickupId?: string; move: boolean }
  /** the slot a load moved from was empty */
  | { kind: 'load-slot-empty'; slot: number };

export type ReconcilePlan =
  | { kind: 'ok'; actions: ReconcileAction[] }
  | { kind: 'refuse'; reason: InventoryFault; pickupId?: string; slot?: number };

export interface ReconcileInput {
  cards: readonly CardOut[];
  loads: readonly LoadIntent[];
  last: JournalEntry | undefined;
  sensors: CardSensors;
}

/** Where the store and the sensors agree, what to do; where they do not, a refusal. */
export function planReconcile({ cards, loads, last, sensors }: ReconcileInput): ReconcilePlan {
  // an unidentified load card is back in its slot already: nothing to do until the next load
  const activeLoads = loads.filter((load) => load.phase !== 'unidentified');
  if (cards.length + activeLoads.length > 1) return { kind: 'refuse', reason: 'several-cards-out' };
  const card = cards[0];
  const load = activeLoads[0];
  const subject = card ? { pickupId: card.pickupId } : load ? { slot: load.slot } : {};
  if (sensors.tray && sensors.station) return { kind: 'refuse', reason: 'sensors-disagree', ...subject };
  if (!card && !load) {
    if (sensors.tray || sensors.station) return { kind: 'refuse', reason: 'unrecorded-card' };
    return { kind: 'ok', actions: [] };
  }
  if (!sensors.atStop) return { kind: 'refuse', reason: 'card-between-stops', ...subject };
  if (card) return planCard(card, last, sensors);
  return planLoad(load as LoadIntent, last, sensors);
}

function planCard(card: CardOut, last: JournalEntry | undefined, sensors: CardSensors): ReconcilePlan {
  const { pickupId, slot } = card;
  const ok = (action: ReconcileAction): ReconcilePlan => ({ kind: 'ok', actions: [action] });
  // the journal speaks of this card only if the move was made while it was out
  const lastOp = last?.pickupId === pickupId ? last.op : undefined;
  if (sensors.station) return ok({ kind: 'back-in-slot', pickupId, slot, move: true });
  if (sensors.tray) {
    // `in-tray` is written before PRESENT: a card in the tray with the row still `at-station` is not ours to explain
    if (card.state !== 'in-tray') return { kind: 'refuse', reason: 'sensors-disagree', pickupId };
    return ok({ kind: 'capture', pickupId, slot, move: true });
  }
  // nothing on a sensor, carriage at a stop: the last move for this card says where it went
  if (lastOp === 'retract') return ok({ kind: 'capture', pickupId, slot, move: false });
  if (lastOp === 'returnToSlot') return ok({ kind: 'back-in-slot', pickupId, slot, move: false });
  if (card.state === 'at-station') {
    // the move to the station was recorded but not made (it would have left the card at D9)
    if (lastOp === undefined || lastOp === 'moveToStation')
      return ok({ kind: 'back-in-slot', pickupId, slot, move: false });
    return { kind: 'refuse', reason: 'sensors-disagree', pickupId };
  }
  // in-tray, tray empty: only a PRESENT that was sent can have put it where a citizen takes it
  if (lastOp === 'present') return ok({ kind: 'complete', pickupId, slot });
  return { kind: 'refuse', reason: 'sensors-disagree', pickupId };
}

function planLoad(load: LoadIntent, last: JournalEntry | undefined, sensors: CardSensors): ReconcilePlan {
  const { slot } = load;
  const pickup = load.pickupId ? { pickupId: load.pickupId } : {};
  if (sensors.station)
    return { kind: 'ok', actions: [{ kind: 'load-back-in-slot', slot, ...pickup, move: true }] };
  if (sensors.tray) return { kind: 'refuse', reason: 'sensors-disagree', slot };
  const lastForSlot = last && last.slot === slot && last.pickupId === null ? last : undefined;
  if (lastForSlot?.op === 'moveToStation' && lastForSlot.outcome === 'no-card')
    return { kind: 'ok', actions: [{ kind: 'load-slot-empty', slot }] };
  // never left its slot, or RETURN_TO_SLOT brought it back
  return { kind: 'ok', actions: [{ kind: 'load-back-in-slot', slot, ...pickup, move: false }] };
}

// ---- carrying it out -------------------------------------------------------------------------------

export interface ReconcileDeps {
  store: Store;
  vault: Vault;
  dispenser: CardDispenser;
  journal: MoveJournal;
  log: Logger;
}

export type ReconcileResult =
  { kind: 'ok'; actions: ReconcileAction[] } | { kind: 'refused'; reason: InventoryFault };

/** Reads the store and the board, plans, and carries the plan out; a refusal is reported once. */
export function reconcileMechanics(
  deps: ReconcileDeps,
  options: { report: boolean } = { report: true },
): Promise<ReconcileResult> {
  const { dispenser } = deps;
  if (dispenser instanceof JournaledDispenser)
    return dispenser.exclusive(() => reconcileHoldingMechanics(deps, options));
  return reconcileHoldingMechanics(deps, options);
}

/** `reconcileMechanics` for a caller that already holds the mechanics (`exclusive`). */
export async function reconcileHoldingMechanics(
  deps: ReconcileDeps,
  options: { report: boolean } = { report: true },
): Promise<ReconcileResult> {
  const { store, vault, dispenser, journal, log } = deps;
  // a move the board began before the crash finishes (or faults) on its own within its limit
  let mechanics = await dispenser.status();
  for (let polls = 0; mechanics === 'moving' && polls < 50; polls++) {
    await new Promise((done) => setTimeout(done, 100));
    mechanics = await dispenser.status();
  }
  const sensors = await dispenser.sensors();
  const cards = (await vault.inTransit()) as CardOut[];
  const loads = await readLoadIntents(store);
  const plan = planReconcile({ cards, loads, last: await journal.last(), sensors });
  if (plan.kind === 'refuse') {
    const { kind: _kind, ...body } = plan;
    if (options.report)
      await store.transaction(async (tx) => {
        await tx.audit('kiosk', 'inventory.unreconciled', { ...body, sensors: { ...sensors } });
        tx.emit({ type: 'fault.inventory', body: { ...body, sensors: { ...sensors } } });
      });
    log.error({ ...body, sensors, mechanics }, 'inventory: sensors and store disagree; out of service');
    return { kind: 'refused', reason: plan.reason };
  }
  for (const action of plan.actions) await carryOut(action, deps);
  if (plan.actions.length)
    log.warn({ actions: plan.actions, sensors }, 'inventory: reconciled with the sensors');
  return plan;
}

async function carryOut(action: ReconcileAction, { store, vault, dispenser }: ReconcileDeps): Promise<void> {
  switch (action.kind) {
    case 'back-in-slot':
      if (action.move) await dispenser.returnToSlot(action.slot);
      return vault.markBackInSlot(action.pickupId);
    case 'capture':
      if (action.move) await dispenser.retract();
      return vault.capture(action.pickupId, action.slot, 'recovered-after-restart');
    case 'complete':
      return vault.complete(action.pickupId, action.slot);
    case 'load-back-in-slot':
      if (action.move) await dispenser.returnToSlot(action.slot);
      if (action.pickupId) return vault.loadCard(action.pickupId, action.slot);
      return setLoadIntent(store, action.slot, 'unidentified');
    case 'load-slot-empty':
      return clearLoadIntent(store, action.slot);
  }
}

// ---- vault-load intents (the table is migration 4's) ----------------------------------------------

export async function readLoadIntents(store: Store): Promise<LoadIntent[]> {
  const rows = await store
    .read()
    .all<{ slot: number; phase: LoadIntent['phase']; pickup_id: string | null }>(
      'SELECT slot, phase, pickup_id FROM vault_load_intents ORDER BY slot',
    );
  return rows.map((row) => ({
    slot: row.slot,
    phase: row.phase,
    ...(row.pickup_id ? { pickupId: row.pickup_id } : {}),
  }));
}

export function setLoadIntent(
  store: Store,
  slot: number,
  phase: LoadIntent['phase'],
  pickupId?: string,
): Promise<void> {
  return store.transaction(async (tx) => {
    await tx.run(
      `INSERT INTO vault_load_intents (slot, phase, pickup_id, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (slot) DO UPDATE SET phase = excluded.phase, pickup_id = excluded.pickup_id, updated_at = excluded.updated_at`,
      [slot, phase, pickupId ?? null, Date.now()],
    );
  });
}

export function clearLoadIntent(store: Store, slot: number): Promise<void> {
  return store.transaction(async (tx) => {
    await tx.run('DELETE FROM vault_load_intents WHERE slot = ?', [slot]);
  });
}

/**
 * `kiosk vault load`: a technician has put cards into vault slots; each card is moved to the chip
 * station, its chip opened with the BAC key of each staged pickup in turn (ICAO 9303 part 11
 * §4.3: only the right MRZ opens it), its DG1 compared with the staged MRZ and passive
 * authentication checked, then it goes back to its slot and the inventory records it there.
 * A card no staged pickup opens stays unassigned (reported, for the technician to take out).
 *
 * Every step is recorded BEFORE the move it leads to (a vault-load intent per slot, and the move
 * journal of src/kiosk/reconcile.ts), so a crash at any point leaves no card unaccounted for: the
 * next load (or the kiosk's start) reconciles the intent with the board's sensors first — a card
 * left at the chip station goes back to its slot, an identified card is recorded there.
 * The service door's lock (GPIO) is opened for the load and locked again after it, whatever happens.
 */
import type { CardTrust } from './card-trust.js';
import { type CardDispenser, DeviceFault } from '../../devices/index.js';
import {
  AccessControlError,
  type AccessPolicy,
  CardError,
  type CardTransport,
  parseDg1,
  readCard,
} from '../card/index.js';
import { bacKeyFromMrz, parseCccdMrz } from '../cccd/index.js';
import type { Store } from '../store/index.js';
import type { SealingIdentity } from '../store/seal.js';
import type { Logger } from '../util/log.js';
import {
  clearLoadIntent,
  type InventoryFault,
  JournaledDispenser,
  MoveJournal,
  reconcileHoldingMechanics,
  setLoadIntent,
} from './reconcile.js';
import { openSecrets, type Vault } from './vault.js';

/** The service door's lock relay (KioskGpio). */
export interface DoorLock {
  setDoorUnlocked(unlocked: boolean): Promise<void>;
}

/** The mechanics and the inventory disagree (reported as `fault.inventory`): staff must look first. */
export class VaultLoadRefused extends Error {
  override readonly name = 'VaultLoadRefused';
  constructor(readonly reason: InventoryFault) {
    super(`the dispenser's sensors and the inventory disagree (${reason}); clear the mechanics first`);
  }
}

export interface VaultLoadOptions {
  vault: Vault;
  store: Store;
  /** unlocked for the load, locked after it (absent: no lock configured) */
  doorLock?: DoorLock;
  identity: SealingIdentity;
  dispenser: CardDispenser;
  openChipStation: () => Promise<CardTransport>;
  /** the same CSCAs, master lists and CRLs the pickup checks against (kiosk/card-trust.ts) */
  trust: CardTrust;
  /** `card.accessPolicy`: the same as the pickup's (absent: prefer PACE) */
  accessPolicy?: AccessPolicy;
  log: Logger;
}

export interface VaultLoadResult {
  loaded: Array<{ slot: number; pickupId: string }>;
  /** slots whose card matched no staged pickup (or failed passive authentication) */
  unmatched: number[];
}

export async function loadVault(
  slots: readonly number[],
  options: VaultLoadOptions,
): Promise<VaultLoadResult> {
  const { store, vault, log } = options;
  const dispenser =
    options.dispenser instanceof JournaledDispenser
      ? options.dispenser
      : new JournaledDispenser(options.dispenser, new MoveJournal(store));
  return dispenser.exclusive(async () => {
    // a load (or a pickup) a crash interrupted is finished first, from the sensors and the records
    const journal = new MoveJournal(store);
    const before = await reconcileHoldingMechanics({ store, vault, dispenser, journal, log });
    if (before.kind === 'refused') throw new VaultLoadRefused(before.reason);
    return loadSlots(slots, dispenser, options);
  });
}

async function loadSlots(
  slots: readonly number[],
  dispenser: JournaledDispenser,
  options: VaultLoadOptions,
): Promise<VaultLoadResult> {
  const { log } = options;
  await options.doorLock?.setDoorUnlocked(true);
  try {
    const result: VaultLoadResult = { loaded: [], unmatched: [] };
    for (const slot of slots) {
      const match = await loadSlot(slot, dispenser, options);
      if (match) result.loaded.push({ slot, pickupId: match });
      else result.unmatched.push(slot);
      log.info(
        { slot, pickupId: match ?? null },
        match ? 'vault: card loaded' : 'vault: card matches no staged pickup',
      );
    }
    return result;
  } finally {
    // fail-secure: the door is locked again even when the load failed
    await options.doorLock?.setDoorUnlocked(false);
  }
}

/** One slot: intent, to the station, identify, intent again, back to the slot, recorded. */
async function loadSlot(
  slot: number,
  dispenser: JournaledDispenser,
  options: VaultLoadOptions,
): Promise<string | undefined> {
  const { store, vault } = options;
  const candidates = await vault.awaitingLoad();
  await setLoadIntent(store, slot, 'out');
  try {
    await dispenser.moveToStation(slot);
  } catch (error) {
    // an empty slot (FAULT "no card"): nothing left it; any other failure stays for reconciliation
    if (error instanceof DeviceFault && error.fault === 'noCard') await clearLoadIntent(store, slot);
    throw error;
  }
  let match: string | undefined;
  try {
    match = await identifyCard(candidates, options);
    if (match) await setLoadIntent(store, slot, 'identified', match);
  } finally {
    await dispenser.returnToSlot(slot);
  }
  // recorded together with the end of the intent (one transaction), or left as "in its slot, unidentified"
  if (match) await vault.loadCard(match, slot);
  else await setLoadIntent(store, slot, 'unidentified');
  return match;
}

async function identifyCard(
  candidates: Array<{ pickupId: string; sealed: string }>,
  options: VaultLoadOptions,
): Promise<string | undefined> {
  for (const candidate of candidates) {
    const secrets = openSecrets(candidate.sealed, options.identity);
    const staged = parseCccdMrz(secrets.mrzLines);
    const transport = await options.openChipStation();
    try {
      // as the pickup opens it: PACE with the CAN (the last six digits of the ID number; PACE with
      // the MRZ fails on CCCD chips, cccd-facts.md §4.1), the MRZ as the BAC key of a chip without PACE
      const read = await readCard(transport, {
        access: {
          kind: 'can',
          can: staged.mrz.optionalData1.slice(6, 12),
          bacKey: bacKeyFromMrz(staged.mrz),
        },
        ...(options.accessPolicy ? { accessPolicy: options.accessPolicy } : {}),
        trustAnchors: options.trust.trustAnchors,
        trustList: options.trust.trustList,
        dataGroups: [1],
        activeAuthentication: false,
      });
      const dg1 = read.dataGroups.get(1);
      if (dg1 && parseDg1(dg1).text === secrets.mrzLines.join('') && read.passive.passed)
        return candidate.pickupId;
    } catch (error) {
      if (error instanceof AccessControlError) continue; // not this pickup's card: try the next key
      if (error instanceof CardError) return undefined; // no chip, or one we cannot read
      throw error;
    } finally {
      await transport.close().catch(() => undefined);
    }
  }
  return undefined;
}

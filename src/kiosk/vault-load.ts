/**
 * `kiosk vault load`: a technician has put cards into vault slots; each card is moved to the chip
 * station, its chip opened with the BAC key of each staged pickup in turn (ICAO 9303 part 11
 * §4.3: only the right MRZ opens it), its DG1 compared with the staged MRZ and passive
 * authentication checked, then it goes back to its slot and the inventory records it there.
 * A card no staged pickup opens stays unassigned (reported, for the technician to take out).
 */
import type { X509Certificate } from 'node:crypto';
import type { CardDispenser } from '../../devices/index.js';
import { AccessControlError, CardError, type CardTransport, parseDg1, readCard } from '../card/index.js';
import { bacKeyFromMrz, parseCccdMrz } from '../cccd/index.js';
import type { SealingIdentity } from '../store/seal.js';
import type { Logger } from '../util/log.js';
import { openSecrets, type Vault } from './vault.js';

export interface VaultLoadOptions {
  vault: Vault;
  identity: SealingIdentity;
  dispenser: CardDispenser;
  openChipStation: () => Promise<CardTransport>;
  trustAnchors: readonly X509Certificate[];
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
  const { vault, dispenser, log } = options;
  const result: VaultLoadResult = { loaded: [], unmatched: [] };
  for (const slot of slots) {
    const candidates = await vault.awaitingLoad();
    await dispenser.moveToStation(slot);
    let match: string | undefined;
    try {
      match = await identifyCard(candidates, options);
    } finally {
      await dispenser.returnToSlot(slot);
    }
    if (match) {
      await vault.loadCard(match, slot);
      result.loaded.push({ slot, pickupId: match });
    } else result.unmatched.push(slot);
    log.info(
      { slot, pickupId: match ?? null },
      match ? 'vault: card loaded' : 'vault: card matches no staged pickup',
    );
  }
  return result;
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
      const read = await readCard(transport, {
        access: { kind: 'bac', key: bacKeyFromMrz(staged.mrz) },
        trustAnchors: options.trustAnchors,
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

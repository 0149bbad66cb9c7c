/**
 * The card vault and its inventory in the store (migration 3). Manifest entries from the registry
 * carry the pickup's secrets sealed to this kiosk; they are opened in memory only — at staging, to
 * compute the keyed lookup hash of the ID number, and during a session. Every card has exactly one
 * row with one state; each state change that the registry must hear of is written in the same
 * transaction as its event.
 */
import { z } from 'zod';
import type { Store, Transaction } from '../store/index.js';
import { hpkeOpen, manifestInfo } from '../store/hpke.js';
import { seal, type SealingIdentity, unseal } from '../store/seal.js';
import { clearMoveJournal } from './reconcile.js';
import type { Health, Service } from '../util/lifecycle.js';

/** What the registry seals for one pickup (never stored or logged in clear). */
export const PickupSecretsSchema = z.strictObject({
  idNumber: z.string().regex(/^\d{12}$/),
  /** the DG1 the card's chip must hold: the citizen's MRZ lines (TD1, 3 × 30) */
  mrzLines: z.array(z.string().length(30)).length(3),
  /** the citizen's fingerprint template (base64), for 1:1 verification on the sensor */
  fingerTemplate: z.string().min(1).max(4096),
});
export type PickupSecrets = z.infer<typeof PickupSecretsSchema>;

export type CardState = 'in-slot' | 'at-station' | 'in-tray' | 'dispensed' | 'captured' | 'withdrawn';

export interface StagedPickup {
  pickupId: string;
  sealed: string;
  /** undefined until a technician loaded the card */
  card?: { state: CardState; slot: number | null };
}

/** A state change found the card elsewhere than expected (another process, a crash, a bug). */
export class InventoryConflict extends Error {
  override readonly name = 'InventoryConflict';
}

/** A sealed manifest entry that does not open or does not hold what a pickup needs. */
/**
 * The registry withdrew the pickup while a session had it (a withdrawal is applied whenever it
 * arrives): the card must not leave its slot, or go on to the tray, for this session.
 */
export class PickupWithdrawn extends Error {
  override readonly name = 'PickupWithdrawn';
}

export class ManifestRejected extends Error {
  override readonly name = 'ManifestRejected';
}

export function openSecrets(sealed: string, identity: SealingIdentity): PickupSecrets {
  let json: unknown;
  try {
    json = JSON.parse(unseal(sealed, identity.privateKey).toString('utf8'));
  } catch (error) {
    throw new ManifestRejected('sealed pickup secrets do not open', { cause: error });
  }
  const parsed = PickupSecretsSchema.safeParse(json);
  if (!parsed.success) throw new ManifestRejected('sealed pickup secrets are malformed');
  return parsed.data;
}

/**
 * How pickup secrets travel from the registry: HPKE (RFC 9180, auth mode) from the pinned registry
 * X25519 key, bound to this kiosk and the pickup (src/store/hpke.ts). Opened at staging and sealed
 * again at rest to the kiosk's own key.
 */
export interface ManifestTransport {
  kioskId: string;
  /** raw 32-byte X25519 key of the registry; absent: no stage is accepted */
  registrySealingKey: Buffer | undefined;
}

/** The transport of a kiosk whose config pins `registrySealingKey` (base64), if it does. */
export function manifestTransport(
  kioskId: string,
  registrySealingKey: string | undefined,
): ManifestTransport {
  return {
    kioskId,
    registrySealingKey: registrySealingKey ? Buffer.from(registrySealingKey, 'base64') : undefined,
  };
}

/** What became of a manifest entry. */
export type ManifestOutcome = 'staged' | 'withdrawn' | 'refused';

/** Card states in which the card is physically in the vault (slot, station, tray). */
const IN_VAULT: readonly CardState[] = ['in-slot', 'at-station', 'in-tray'];

interface CardRow {
  pickup_id: string;
  state: CardState;
  slot: number | null;
}

export class Vault implements Service {
  readonly name = 'vault';

  constructor(
    private readonly store: Store,
    private readonly identity: SealingIdentity,
    private readonly now: () => number = Date.now,
    /** absent only in unit tests that hand the vault boxes already sealed to the kiosk */
    private readonly transport?: ManifestTransport,
  ) {}

  /** The vault has nothing to open or close: its tables live in the store. */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  health(): Health {
    return { state: 'up' };
  }

  /**
   * Applies a `manifest.entry` (already verified by the gate) inside the inbound transaction.
   * A stage never replaces the secrets of a pickup that is staged or whose card is in the vault:
   * the registry must withdraw it first. Such a stage is refused and audited as refused.
   */
  async applyManifest(
    tx: Transaction,
    entry: { pickupId: string; action: 'stage' | 'withdraw'; sealed?: string },
  ): Promise<ManifestOutcome> {
    if (entry.action === 'withdraw') {
      await tx.run(`UPDATE vault_manifest SET state = 'withdrawn' WHERE pickup_id = ?`, [entry.pickupId]);
      await purgeSecrets(tx, entry.pickupId);
      await tx.audit('registry', 'vault.withdrawn', { pickupId: entry.pickupId });
      return 'withdrawn';
    }
    if (!entry.sealed) throw new ManifestRejected('a staged pickup needs its sealed secrets');
    const existing = await tx.get<{ manifest: string; card: CardState | null }>(
      `SELECT m.state AS manifest, c.state AS card FROM vault_manifest m LEFT JOIN vault_cards c USING (pickup_id)
         WHERE m.pickup_id = ?`,
      [entry.pickupId],
    );
    const conflict =
      existing?.manifest === 'staged'
        ? 'already-staged'
        : existing?.card && IN_VAULT.includes(existing.card)
          ? 'card-in-vault'
          : undefined;
    if (conflict) {
      await tx.audit('registry', 'vault.stage-refused', { pickupId: entry.pickupId, reason: conflict });
      return 'refused';
    }
    const atRest = await this.sealAtRest(entry.pickupId, entry.sealed);
    const secrets = openSecrets(atRest, this.identity);
    await tx.run(
      `INSERT INTO vault_manifest (pickup_id, id_lookup, sealed, state, staged_at) VALUES (?, ?, ?, 'staged', ?)
       ON CONFLICT (pickup_id) DO UPDATE SET id_lookup = excluded.id_lookup, sealed = excluded.sealed, state = 'staged',
         staged_at = excluded.staged_at`,
      [entry.pickupId, this.identity.lookupHash(secrets.idNumber), atRest, this.now()],
    );
    await tx.audit('registry', 'vault.staged', { pickupId: entry.pickupId });
    return 'staged';
  }

  /** The registry's HPKE box → the same secrets sealed to this kiosk's own key for storage. */
  private async sealAtRest(pickupId: string, box: string): Promise<string> {
    if (!this.transport) return box;
    const { kioskId, registrySealingKey } = this.transport;
    if (!registrySealingKey) throw new ManifestRejected('no registry sealing key is pinned');
    let plaintext: Buffer;
    try {
      plaintext = await hpkeOpen(box, {
        recipient: this.identity.privateKey,
        sender: registrySealingKey,
        info: manifestInfo(kioskId, pickupId),
      });
    } catch (error) {
      throw new ManifestRejected('pickup secrets are not sealed by the registry for this kiosk and pickup', {
        cause: error,
      });
    }
    try {
      return seal(plaintext, this.identity.publicKey);
    } finally {
      plaintext.fill(0);
    }
  }

  /** Staged pickups whose card is not loaded yet (what `kiosk vault load` matches chips against). */
  async awaitingLoad(): Promise<Array<{ pickupId: string; sealed: string }>> {
    return (
      await this.store.read().all<{ pickup_id: string; sealed: string }>(
        `SELECT m.pickup_id, m.sealed FROM vault_manifest m LEFT JOIN vault_cards c USING (pickup_id)
           WHERE m.state = 'staged' AND c.pickup_id IS NULL ORDER BY m.staged_at`,
      )
    ).map((row) => ({ pickupId: row.pickup_id, sealed: row.sealed }));
  }

  /**
   * Records a loaded card in `slot` (+ `vault.loaded`), one transaction; the load's intent for the
   * slot (src/kiosk/reconcile.ts) ends in the same transaction.
   */
  async loadCard(pickupId: string, slot: number): Promise<void> {
    await this.store.transaction(async (tx) => {
      await tx.run('DELETE FROM vault_load_intents WHERE slot = ?', [slot]);
      await tx.run(
        `INSERT INTO vault_cards (pickup_id, state, slot, updated_at) VALUES (?, 'in-slot', ?, ?)`,
        [pickupId, slot, this.now()],
      );
      await tx.audit('technician', 'vault.loaded', { pickupId, slot });
      tx.emit({ type: 'vault.loaded', body: { pickupId, slot } });
    });
  }

  /** A technician took a card out of its slot (withdrawn pickup, or any reason). */
  async withdrawCard(pickupId: string): Promise<void> {
    await this.store.transaction(async (tx) => {
      await this.move(tx, pickupId, ['in-slot'], 'withdrawn', null);
      await purgeSecrets(tx, pickupId);
      await tx.audit('technician', 'vault.card-withdrawn', { pickupId });
    });
  }

  /** The staged pickup of an ID number (or a pickup code) whose card sits in its slot. */
  async findReady(
    by: 'id' | 'code',
    value: string,
  ): Promise<{ pickupId: string; slot: number; sealed: string } | undefined> {
    const column = by === 'id' ? 'm.id_lookup' : 'm.pickup_id';
    const key = by === 'id' ? this.identity.lookupHash(value) : value;
    const row = await this.store.read().get<{ pickup_id: string; slot: number; sealed: string }>(
      `SELECT m.pickup_id, c.slot, m.sealed FROM vault_manifest m JOIN vault_cards c USING (pickup_id)
         WHERE ${column} = ? AND m.state = 'staged' AND c.state = 'in-slot' LIMIT 1`,
      [key],
    );
    return row ? { pickupId: row.pickup_id, slot: row.slot, sealed: row.sealed } : undefined;
  }

  async card(pickupId: string): Promise<{ state: CardState; slot: number | null } | undefined> {
    const row = await this.store
      .read()
      .get<CardRow>('SELECT pickup_id, state, slot FROM vault_cards WHERE pickup_id = ?', [pickupId]);
    return row ? { state: row.state, slot: row.slot } : undefined;
  }

  /** Cards between slot and citizen: after a crash these are the ones to bring to safety. */
  async inTransit(): Promise<Array<{ pickupId: string; state: CardState; slot: number }>> {
    const rows = await this.store
      .read()
      .all<CardRow>(
        `SELECT pickup_id, state, slot FROM vault_cards WHERE state IN ('at-station', 'in-tray')`,
      );
    return rows.map((row) => ({ pickupId: row.pickup_id, state: row.state, slot: row.slot ?? -1 }));
  }

  /** How many cards are in each state. */
  async inventory(): Promise<Record<CardState, number>> {
    const counts: Record<CardState, number> = {
      'in-slot': 0,
      'at-station': 0,
      'in-tray': 0,
      dispensed: 0,
      captured: 0,
      withdrawn: 0,
    };
    const rows = await this.store
      .read()
      .all<{ state: CardState; n: number }>('SELECT state, COUNT(*) AS n FROM vault_cards GROUP BY state');
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /** Before the dispenser moves the card: the row says where it is going (crash recovery reads it). */
  markAtStation(pickupId: string): Promise<void> {
    return this.store.transaction(async (tx) => {
      await this.assertNotWithdrawn(tx, pickupId);
      await this.move(tx, pickupId, ['in-slot'], 'at-station');
    });
  }

  /** The move that hands the card out: refused, in the same transaction, once it is withdrawn. */
  markInTray(pickupId: string): Promise<void> {
    return this.store.transaction(async (tx) => {
      await this.assertNotWithdrawn(tx, pickupId);
      await this.move(tx, pickupId, ['at-station'], 'in-tray');
    });
  }

  private async assertNotWithdrawn(tx: Transaction, pickupId: string): Promise<void> {
    const row = await tx.get<{ state: string }>('SELECT state FROM vault_manifest WHERE pickup_id = ?', [
      pickupId,
    ]);
    if (row?.state === 'withdrawn')
      throw new PickupWithdrawn(`pickup ${pickupId} was withdrawn by the registry`);
  }

  /**
   * The card is back in its slot. From `in-tray` too: that state is written before the PRESENT move
   * starts, so a kiosk killed in between finds the card still at the station after a restart.
   */
  markBackInSlot(pickupId: string): Promise<void> {
    return this.store.transaction((tx) =>
      this.move(tx, pickupId, ['at-station', 'in-tray', 'in-slot'], 'in-slot'),
    );
  }

  /** The citizen took the card: `dispensed` and `pickup.completed` in one transaction. */
  complete(pickupId: string, slot: number): Promise<void> {
    return this.store.transaction(async (tx) => {
      await this.move(tx, pickupId, ['in-tray'], 'dispensed', null);
      await purgeSecrets(tx, pickupId);
      tx.emit({ type: 'pickup.completed', body: { pickupId, slot } });
    });
  }

  /** The card went to the capture bin: `captured` and `pickup.retracted` in one transaction. */
  capture(
    pickupId: string,
    slot: number,
    reason: 'not-taken' | 'device-fault' | 'recovered-after-restart',
  ): Promise<void> {
    return this.store.transaction(async (tx) => {
      await this.move(tx, pickupId, ['in-tray', 'at-station'], 'captured', null);
      await purgeSecrets(tx, pickupId);
      tx.emit({ type: 'pickup.retracted', body: { pickupId, slot, reason } });
    });
  }

  /**
   * Staff cleared, with the kiosk stopped, the card the mechanics left outside its slot (caught
   * between two stops, jammed: the kiosk refused to guess and went out of service): put back in its
   * slot by hand, or into the capture bin. The bin is told as `pickup.retracted` (removed-by-staff),
   * so the registry knows the card is with staff. The dispenser's move journal is cleared in the
   * same transaction: the next start's reconciliation must not replay a move that staff undid.
   */
  clearByStaff(slot: number, to: 'slot' | 'bin'): Promise<{ pickupId: string }> {
    return this.store.transaction(async (tx) => {
      const card = await tx.get<{ pickup_id: string }>(
        `SELECT pickup_id FROM vault_cards WHERE slot = ? AND state IN ('at-station', 'in-tray')`,
        [slot],
      );
      if (!card) throw new InventoryConflict(`no card of slot ${slot} is outside its slot`);
      const pickupId = card.pickup_id;
      if (to === 'slot') await this.move(tx, pickupId, ['at-station', 'in-tray'], 'in-slot');
      else {
        await this.move(tx, pickupId, ['at-station', 'in-tray'], 'captured', null);
        await purgeSecrets(tx, pickupId);
        tx.emit({ type: 'pickup.retracted', body: { pickupId, slot, reason: 'removed-by-staff' } });
      }
      await clearMoveJournal(tx);
      await tx.audit('staff', 'vault.cleared', { pickupId, slot, to });
      return { pickupId };
    });
  }

  /** A fault staff must see (card kept); no state change besides the event. */
  reportFault(body: {
    pickupId: string;
    fault: 'chip-mismatch' | 'passive-auth-failed' | 'active-auth-failed' | 'chip-unreadable' | 'device';
    device?: string;
    card: 'in-slot' | 'capture-bin' | 'unknown';
  }): Promise<void> {
    return this.store.transaction(async (tx) => {
      tx.emit({ type: 'fault.pickup', body });
    });
  }

  private async move(
    tx: Transaction,
    pickupId: string,
    from: readonly CardState[],
    to: CardState,
    slot?: null,
  ): Promise<void> {
    const result = await tx.run(
      `UPDATE vault_cards SET state = ?, updated_at = ?${slot === null ? ', slot = NULL' : ''}
       WHERE pickup_id = ? AND state IN (${from.map(() => '?').join(',')})`,
      [to, this.now(), pickupId, ...from],
    );
    if (result.changes !== 1) throw new InventoryConflict(`card of ${pickupId} is not ${from.join(' or ')}`);
  }
}

/**
 * Drops the sealed secrets (MRZ, finger template) of a pickup whose card has left the vault or was
 * withdrawn: nothing needs them again, and a kiosk key stolen later must not open them (issue 12).
 * The row stays, for the pickup's state; the keyed ID hash stays, for the dedupe of a re-stage.
 */
async function purgeSecrets(tx: Transaction, pickupId: string): Promise<void> {
  await tx.run(`UPDATE vault_manifest SET sealed = '' WHERE pickup_id = ?`, [pickupId]);
  tx.purged();
}

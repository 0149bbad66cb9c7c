/**
 * `resync-manifest` (issue 13): the kiosk asks the registry for its whole manifest and reconciles
 * its vault against it.
 *
 * 1. The command's inbox transaction records the request and queues `manifest.resyncRequested` in
 *    the outbox (so a kiosk that is offline asks as soon as it is back). The request carries a
 *    proof sealed with HPKE auth mode from the kiosk's enrolled key to the registry's, bound to
 *    the kiosk and the request id, as `update.submitted` is: the registry acts on it only if it
 *    opens with the key it holds for the kiosk of the topic.
 * 2. The registry re-sends every pickup it has staged here as ordinary signed `manifest.entry`
 *    stages — applied by the normal stage path, which never replaces the secrets of a staged
 *    pickup — then a signed `manifest.resync` listing them all.
 * 3. On that list (its own inbox transaction) the kiosk withdraws what it staged before asking and
 *    the registry no longer has, reports the cards in its vault whose pickup the registry does not
 *    stage here (they can never be dispensed: only a staged pickup is), and queues
 *    `manifest.resynced` with counts and pickup ids — no PII.
 *
 * Pickups staged here after the request are left alone: the registry may have staged them after
 * it made the list.
 */
import { randomBytes } from 'node:crypto';
import { MAX_RESYNC_REPORTED_IDS, type MessageBody } from '../link/messages.js';
import { hpkeSeal, resyncInfo } from '../store/hpke.js';
import type { Transaction } from '../store/index.js';
import type { SealingIdentity } from '../store/seal.js';
import type { Logger } from '../util/log.js';
import type { CardState, ManifestTransport, Vault } from './vault.js';

export type ResyncReport = MessageBody<'manifest.resynced'>;

/** Card states in which the card is physically in the vault (slot, station, tray). */
const IN_VAULT: ReadonlySet<CardState> = new Set<CardState>(['in-slot', 'at-station', 'in-tray']);
/** Cards whose leaving the vault is already on its way to the registry as an event. */
const REPORTED_GONE: ReadonlySet<CardState> = new Set<CardState>(['dispensed', 'captured']);

interface LocalPickup {
  pickup_id: string;
  manifest: 'staged' | 'withdrawn';
  staged_at: number;
  card: CardState | null;
}

export interface ManifestResyncOptions {
  vault: Vault;
  identity: SealingIdentity;
  transport: ManifestTransport;
  log: Logger;
  now?: () => number;
}

/** The counts of the last reconciled resync, for `collect-diagnostics` (operations do not read events). */
export interface ResyncSummary {
  requestId: string;
  reconciledAt: string;
  inSync: number;
  staged: number;
  withdrawn: number;
  notStaged: number;
  unknownCards: number;
}

export class ManifestResync {
  private last: ResyncSummary | undefined;

  constructor(private readonly options: ManifestResyncOptions) {}

  /** The last resync reconciled since start (undefined before the first). */
  get lastSummary(): ResyncSummary | undefined {
    return this.last;
  }

  /** Called once the list's transaction committed: the report is now the kiosk's. */
  reconciled(report: ResyncReport): void {
    this.last = {
      requestId: report.requestId,
      reconciledAt: new Date(this.now()).toISOString(),
      inSync: report.inSync,
      staged: report.staged.count,
      withdrawn: report.withdrawn.count,
      notStaged: report.notStaged.count,
      unknownCards: report.unknownCards.count,
    };
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /**
   * Records a resync request and queues it in `tx` (the command's inbox transaction). Returns the
   * request id, or why this kiosk cannot ask (no registry key pinned to seal the proof to).
   */
  async request(tx: Transaction, by: string): Promise<{ requestId: string } | { refused: string }> {
    const { kioskId, registrySealingKey } = this.options.transport;
    if (!registrySealingKey) return { refused: 'no registry sealing key is pinned' };
    const requestId = randomBytes(16).toString('base64url');
    const requestedAt = this.now();
    const proof = await hpkeSeal(
      Buffer.from(JSON.stringify({ kioskId, requestId, requestedAt: new Date(requestedAt).toISOString() })),
      {
        recipient: registrySealingKey,
        sender: this.options.identity.privateKey,
        info: resyncInfo(kioskId, requestId),
      },
    );
    await tx.run('INSERT INTO manifest_resyncs (request_id, requested_at, requested_by) VALUES (?, ?, ?)', [
      requestId,
      requestedAt,
      by,
    ]);
    await tx.audit(by, 'vault.resync-requested', { requestId });
    tx.emit({ type: 'manifest.resyncRequested', body: { requestId, proof } });
    return { requestId };
  }

  /**
   * Reconciles the vault with the registry's list (already verified by the gate), inside the
   * list's inbox transaction. A list for a request this kiosk did not make, or already reconciled,
   * changes nothing.
   */
  async reconcile(tx: Transaction, list: MessageBody<'manifest.resync'>): Promise<ResyncReport | undefined> {
    const request = await tx.get<{ requested_at: number; reconciled_at: number | null }>(
      'SELECT requested_at, reconciled_at FROM manifest_resyncs WHERE request_id = ?',
      [list.requestId],
    );
    if (!request || request.reconciled_at !== null) {
      await tx.audit('registry', 'vault.resync-ignored', {
        requestId: list.requestId,
        reason: request ? 'already reconciled' : 'not requested',
      });
      return undefined;
    }
    const atRegistry = new Set(list.pickupIds);
    const local = await tx.all<LocalPickup>(
      `SELECT m.pickup_id, m.state AS manifest, m.staged_at, c.state AS card
         FROM vault_manifest m LEFT JOIN vault_cards c USING (pickup_id) ORDER BY m.pickup_id`,
    );
    const differences = classify(local, atRegistry, request.requested_at);
    for (const pickupId of differences.withdrawn)
      await this.options.vault.applyManifest(tx, { pickupId, action: 'withdraw' });
    const report: ResyncReport = {
      requestId: list.requestId,
      inSync: differences.inSync,
      staged: difference(differences.staged),
      withdrawn: difference(differences.withdrawn),
      notStaged: difference(differences.notStaged),
      unknownCards: difference(differences.unknownCards),
    };
    await tx.run('UPDATE manifest_resyncs SET reconciled_at = ? WHERE request_id = ?', [
      this.now(),
      list.requestId,
    ]);
    await tx.audit('registry', 'vault.resynced', {
      requestId: list.requestId,
      staged: report.staged.count,
      withdrawn: report.withdrawn.count,
      notStaged: report.notStaged.count,
      unknownCards: report.unknownCards.count,
    });
    tx.emit({ type: 'manifest.resynced', body: report });
    this.options.log.info(
      {
        inSync: report.inSync,
        staged: report.staged.count,
        withdrawn: report.withdrawn.count,
        notStaged: report.notStaged.count,
        unknownCards: report.unknownCards.count,
      },
      'vault: manifest resynced with the registry',
    );
    return report;
  }
}

interface Differences {
  inSync: number;
  staged: string[];
  withdrawn: string[];
  notStaged: string[];
  unknownCards: string[];
}

/**
 * Sorts every pickup into what the resync found. `requestedAt` splits what the kiosk held when it
 * asked (the registry's list speaks for it) from what was staged since (the resync's own entries,
 * or a stage the list may not know yet).
 */
export function classify(
  local: readonly LocalPickup[],
  atRegistry: ReadonlySet<string>,
  requestedAt: number,
): Differences {
  const result: Differences = { inSync: 0, staged: [], withdrawn: [], notStaged: [], unknownCards: [] };
  const byId = new Map(local.map((row) => [row.pickup_id, row]));
  for (const row of local) {
    const live = row.manifest === 'staged' && (row.card === null || IN_VAULT.has(row.card));
    const stagedSince = live && row.staged_at >= requestedAt;
    const listed = atRegistry.has(row.pickup_id);
    if (listed && live && stagedSince) result.staged.push(row.pickup_id);
    if (listed && live && !stagedSince) result.inSync++;
    if (!listed && live && !stagedSince) result.withdrawn.push(row.pickup_id);
    if (!listed && row.card !== null && IN_VAULT.has(row.card) && !stagedSince)
      result.unknownCards.push(row.pickup_id);
  }
  for (const pickupId of atRegistry) {
    const row = byId.get(pickupId);
    const live = row?.manifest === 'staged' && (row.card === null || IN_VAULT.has(row.card));
    const goneReported = row?.card != null && REPORTED_GONE.has(row.card);
    if (!live && !goneReported) result.notStaged.push(pickupId);
  }
  return result;
}

function difference(pickupIds: readonly string[]): { count: number; pickupIds: string[] } {
  return { count: pickupIds.length, pickupIds: pickupIds.slice(0, MAX_RESYNC_REPORTED_IDS) };
}

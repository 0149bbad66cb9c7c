import type { InboundHandlers } from '../link/inbound.js';
import type { ManifestResync } from '../kiosk/manifest-resync.js';
import { ManifestRejected, type Vault } from '../kiosk/vault.js';
import type { Logger } from '../util/log.js';

/**
 * Manifest entries (staging, withdrawal), the registry's list closing a manifest resync, and update
 * statuses, each applied in its inbox transaction.
 */
export function kioskInbound(vault: Vault, resync: ManifestResync, log: Logger): InboundHandlers {
  return {
    manifestResync: async (message, tx, afterCommit) => {
      const report = await resync.reconcile(tx, message.body);
      if (report) afterCommit(() => resync.reconciled(report));
    },
    manifest: async (message, tx) => {
      try {
        await vault.applyManifest(tx, message.body);
      } catch (error) {
        if (!(error instanceof ManifestRejected)) throw error;
        log.warn(
          { pickupId: message.body.pickupId, reason: error.message },
          'vault: manifest entry rejected',
        );
        await tx.audit('registry', 'vault.manifest-rejected', { pickupId: message.body.pickupId });
      }
    },
    updateStatus: async (message, tx) => {
      const { trackingCode, state, note } = message.body;
      await tx.run('UPDATE data_updates SET state = ?, note = ?, updated_at = ? WHERE tracking_code = ?', [
        state,
        note ?? null,
        Date.now(),
        trackingCode,
      ]);
    },
  };
}

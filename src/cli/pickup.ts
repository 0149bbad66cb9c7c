import type { Command } from 'commander';
import { loadConfigFile } from '../config/index.js';
import { FingerGuard, fingerGuardOptions, NotLocked } from '../kiosk/finger-guard.js';
import { openToolStore } from './queue.js';

/**
 * `kiosk pickup locked` / `kiosk pickup release <pickup id>`: staff's side of the failed-finger
 * lock (issue 12). A pickup with too many failed fingers is locked at the kiosk and reported to
 * the registry (`pickup.locked`); after checking the citizen's identity at the desk, staff release
 * it here, at the kiosk, as the technician (audited, `pickup.released` to the registry). It works
 * beside a running kiosk: the store is SQLite in WAL mode and the next session reads the count
 * afresh; the event leaves with the kiosk's next outbox delivery.
 */
export function registerPickupCommands(program: Command): void {
  const pickup = program.command('pickup').description('pickups locked after too many failed fingers');
  pickup
    .command('locked')
    .description('list the pickups locked after too many failed fingers')
    .requiredOption('-c, --config <file>', 'configuration file (its dataDir holds the store)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ kiosk pickup locked --config kiosk.json')
    .action(async (options: { config: string; json?: boolean }) => {
      await withGuard(options.config, async (guard) => {
        const locked = await guard.locked();
        process.stdout.write(
          options.json
            ? `${JSON.stringify(locked)}\n`
            : locked.length === 0
              ? 'no locked pickup\n'
              : `${locked.map((l) => `${l.pickupId}: ${l.failures} failed fingers, locked ${new Date(l.lockedAt).toISOString()}`).join('\n')}\n`,
        );
        return 0;
      });
    });
  pickup
    .command('release')
    .description('release a locked pickup after checking the citizen at the desk')
    .argument('<pickup-id>', 'the pickup id (from `kiosk pickup locked` or the registry)')
    .requiredOption('-c, --config <file>', 'configuration file (its dataDir holds the store)')
    .addHelpText('after', '\nExample:\n  $ kiosk pickup release P-2024-0001 --config kiosk.json')
    .action(async (pickupId: string, options: { config: string }) => {
      await withGuard(options.config, async (guard) => {
        try {
          await guard.release(pickupId, 'technician');
        } catch (error) {
          if (!(error instanceof NotLocked)) throw error;
          process.stderr.write(`${error.message}\n`);
          return 1;
        }
        process.stdout.write(`pickup ${pickupId} released\n`);
        return 0;
      });
    });
}

async function withGuard(configFile: string, work: (guard: FingerGuard) => Promise<number>): Promise<void> {
  const config = await loadConfigFile(configFile);
  const store = await openToolStore(config);
  try {
    process.exitCode = await work(new FingerGuard(store, fingerGuardOptions(config)));
  } finally {
    await store.stop();
  }
}

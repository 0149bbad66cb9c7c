import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JohnnyFiveDispenser } from '../../devices/index.js';
import { chipStationOf } from '../runtime/devices.js';
import { parseTrustList } from '../card/pa.js';
import type { KioskConfig } from '../config/index.js';
import { Vault } from '../kiosk/vault.js';
import { loadVault } from '../kiosk/vault-load.js';
import { topics } from '../link/topics.js';
import { Store } from '../store/index.js';
import { loadOrCreateSealingIdentity, sealingIdentityPath } from '../store/seal.js';
import { createLogger } from '../util/log.js';
import { askRunningKiosk } from './doctor.js';

/**
 * `kiosk vault load --slots 0,1,2`: the technician's loading of the vault, with the kiosk stopped
 * (the technician has the vault open; the runtime holds the ports while it runs). Each card is
 * identified by its chip (src/kiosk/vault-load.ts) and recorded in its slot.
 * `kiosk vault status`: how many cards are in each state.
 */
export async function runVaultCommand(
  config: KioskConfig,
  action: 'load' | 'status',
  slots: number[],
  json: boolean,
): Promise<number> {
  const log = createLogger({ level: 'warn', pretty: false });
  const store = new Store({
    file: join(config.dataDir, 'kiosk.sqlite'),
    synchronous: config.store.synchronous,
    defaultTopic: topics.events(config.kiosk.id),
    log,
    forTool: action === 'status',
  });
  const identity = loadOrCreateSealingIdentity(sealingIdentityPath(config.dataDir));
  const vault = new Vault(store, identity);
  if (action === 'load' && (await askRunningKiosk(config))) {
    process.stderr.write(`kiosk ${config.kiosk.id} is running: stop it before loading the vault\n`);
    return 1;
  }
  await store.start();
  try {
    if (action === 'status') {
      const inventory = await vault.inventory();
      const awaiting = (await vault.awaitingLoad()).length;
      process.stdout.write(
        json
          ? `${JSON.stringify({ inventory, awaitingLoad: awaiting })}\n`
          : `${Object.entries(inventory)
              .map(([state, n]) => `${state}: ${n}`)
              .join('\n')}\nstaged, not loaded: ${awaiting}\n`,
      );
      return 0;
    }
    const { dispenser: dispenserConfig, cardReader } = config.devices;
    if (!dispenserConfig || !cardReader?.enabled || !config.sessions.trustList) {
      process.stderr.write('vault load needs devices.dispenser, devices.cardReader and sessions.trustList\n');
      return 1;
    }
    const station = chipStationOf(cardReader);
    await station.start();
    const dispenser = new JohnnyFiveDispenser({
      path: dispenserConfig.path,
      baudRate: dispenserConfig.baudRate,
    });
    await dispenser.start();
    try {
      const deadline = Date.now() + 10_000;
      while (dispenser.health !== 'ok' && Date.now() < deadline)
        await new Promise((done) => setTimeout(done, 50));
      const result = await loadVault(slots, {
        vault,
        identity,
        dispenser,
        openChipStation: () => station.open(),
        trustAnchors: parseTrustList(readFileSync(config.sessions.trustList, 'utf8')),
        log,
      });
      process.stdout.write(
        json
          ? `${JSON.stringify(result)}\n`
          : `${result.loaded.map(({ slot, pickupId }) => `slot ${slot}: ${pickupId}`).join('\n')}\n${
              result.unmatched.length
                ? `no staged pickup for the card in slots ${result.unmatched.join(', ')}\n`
                : ''
            }`,
      );
      return result.unmatched.length === 0 ? 0 : 2;
    } finally {
      await dispenser.stop();
      await station.stop();
    }
  } finally {
    await store.stop();
  }
}

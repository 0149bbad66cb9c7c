import { join } from 'node:path';
import { JohnnyFiveDispenser, KioskGpio, onoffBackend } from '../../devices/index.js';
import { chipStationOf } from '../runtime/devices.js';
import type { KioskConfig } from '../config/index.js';
import { loadCardTrustFailClosed } from '../kiosk/card-trust.js';
import { readLoadIntents } from '../kiosk/reconcile.js';
import { Vault } from '../kiosk/vault.js';
import { loadVault } from '../kiosk/vault-load.js';
import { topics } from '../link/topics.js';
import { Store } from '../store/index.js';
import { loadOrCreateSealingIdentity, sealingIdentityPath } from '../store/seal.js';
import { createLogger, type Logger } from '../util/log.js';
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
      // cards a load left in their slots without identifying them (a crash, or no staged pickup opened them)
      const unidentified = (await readLoadIntents(store))
        .filter((intent) => intent.phase === 'unidentified')
        .map((intent) => intent.slot);
      process.stdout.write(
        json
          ? `${JSON.stringify({ inventory, awaitingLoad: awaiting, unidentifiedSlots: unidentified })}\n`
          : `${Object.entries(inventory)
              .map(([state, n]) => `${state}: ${n}`)
              .join('\n')}\nstaged, not loaded: ${awaiting}\n${
              unidentified.length
                ? `load again (card not identified): slots ${unidentified.join(', ')}\n`
                : ''
            }`,
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
    const doorLock = await startDoorLock(config, log);
    await dispenser.start();
    try {
      const deadline = Date.now() + 10_000;
      while (dispenser.health !== 'ok' && Date.now() < deadline)
        await new Promise((done) => setTimeout(done, 50));
      const result = await loadVault(slots, {
        vault,
        store,
        ...(doorLock ? { doorLock } : {}),
        identity,
        dispenser,
        openChipStation: () => station.open(),
        trust: loadCardTrustFailClosed(config, log),
        accessPolicy: config.card.accessPolicy,
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
      await doorLock?.stop();
    }
  } finally {
    await store.stop();
  }
}

/** The service door's lock for the load, when GPIO and a lock are configured; a missing one is said. */
async function startDoorLock(config: KioskConfig, log: Logger): Promise<KioskGpio | undefined> {
  const gpio = config.devices.gpio;
  if (!gpio?.enabled || !gpio.doorLock) return undefined;
  const kioskGpio = new KioskGpio(
    { inputs: {}, leds: {}, debounceMs: gpio.debounceMs, doorLock: gpio.doorLock },
    onoffBackend,
    gpio.sysfsRoot,
  );
  await kioskGpio.start();
  if (kioskGpio.health === 'ok') return kioskGpio;
  log.warn(
    { detail: kioskGpio.healthDetail },
    'vault load: door lock not available; unlock the door by hand',
  );
  return undefined;
}

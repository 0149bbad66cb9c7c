import { join } from 'node:path';
import { JohnnyFiveDispenser, KioskGpio, onoffBackend } from '../../devices/index.js';
import { chipStationOf } from '../runtime/devices.js';
import type { KioskConfig } from '../config/index.js';
import { loadCardTrustFailClosed } from '../kiosk/card-trust.js';
import { readLoadIntents } from '../kiosk/reconcile.js';
import { InventoryConflict, Vault } from '../kiosk/vault.js';
import { loadVault } from '../kiosk/vault-load.js';
import { topics } from '../link/topics.js';
import { Store } from '../store/index.js';
import { loadOrCreateSealingIdentity, sealingIdentityPath } from '../store/seal.js';
import { createLogger, type Logger } from '../util/log.js';
import { askRunningKiosk } from './doctor.js';

export type VaultAction = 'load' | 'status' | 'clear';

export interface VaultCommandOptions {
  /** load: the slots holding new cards; clear: the one slot whose card staff handled */
  slots: number[];
  /** clear: where staff put the card */
  to?: 'slot' | 'bin';
  json: boolean;
}

/**
 * `kiosk vault load --slots 0,1,2`: the technician's loading of the vault, with the kiosk stopped
 * (the technician has the vault open; the runtime holds the ports while it runs). Each card is
 * identified by its chip (src/kiosk/vault-load.ts) and recorded in its slot.
 * `kiosk vault status`: how many cards are in each state, and which slots' cards are outside them.
 * `kiosk vault clear --slots N --to slot|bin`: staff cleared a card the mechanics left outside its
 * slot (the kiosk went out of service with `fault.inventory`), kiosk stopped.
 */
export async function runVaultCommand(
  config: KioskConfig,
  action: VaultAction,
  { slots, to, json }: VaultCommandOptions,
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
  if (action !== 'status' && (await askRunningKiosk(config))) {
    process.stderr.write(`kiosk ${config.kiosk.id} is running: stop it before opening the vault\n`);
    return 1;
  }
  await store.start();
  try {
    if (action === 'clear') return await clearCard(vault, slots[0]!, to ?? 'slot', json);
    if (action === 'status') {
      await printStatus(vault, store, json);
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

async function printStatus(vault: Vault, store: Store, json: boolean): Promise<void> {
  const inventory = await vault.inventory();
  const awaiting = (await vault.awaitingLoad()).length;
  // cards a load left in their slots without identifying them (a crash, or no staged pickup opened them)
  const unidentified = (await readLoadIntents(store))
    .filter((intent) => intent.phase === 'unidentified')
    .map((intent) => intent.slot);
  // cards outside their slots: after a fault.inventory, staff look there and then `vault clear`
  const outside = (await vault.inTransit()).map(({ slot, state }) => ({ slot, state }));
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ inventory, awaitingLoad: awaiting, unidentifiedSlots: unidentified, outside })}\n`,
    );
    return;
  }
  const lines = [
    ...Object.entries(inventory).map(([state, n]) => `${state}: ${n}`),
    `staged, not loaded: ${awaiting}`,
    ...(unidentified.length ? [`load again (card not identified): slots ${unidentified.join(', ')}`] : []),
    ...outside.map(
      ({ slot, state }) =>
        `slot ${slot}: its card is recorded ${state}; once you have it, \`kiosk vault clear --slots ${slot} --to slot|bin\``,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Records where staff put the card of `slot` that the mechanics left outside it. */
async function clearCard(vault: Vault, slot: number, to: 'slot' | 'bin', json: boolean): Promise<number> {
  try {
    const { pickupId } = await vault.clearByStaff(slot, to);
    const where = to === 'slot' ? 'back in its slot' : 'in the capture bin (the registry is told)';
    process.stdout.write(
      json
        ? `${JSON.stringify({ cleared: { slot, pickupId, to } })}\n`
        : `slot ${slot}: card of ${pickupId} recorded ${where}; start the kiosk\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof InventoryConflict)) throw error;
    process.stderr.write(`vault clear: ${error.message} (see \`kiosk vault status\`)\n`);
    return 1;
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

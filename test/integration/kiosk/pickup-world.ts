/**
 * A whole pickup world in one process for the session tests and the bench: the demo rig (embedded
 * broker, reference registry, emulators on real ptys, the vault's chips behind the chip station)
 * and a kiosk runtime configured against it, with its vault loaded by `loadVault`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KioskConfigInput, parseConfig } from '../../../src/config/index.js';
import { createKioskRuntime, type KioskRuntime, type KioskRuntimeExtras } from '../../../src/main.js';
import { type DemoRig, startDemoRig } from '../../../src/demo/rig.js';
import type { Logger } from '../../../src/util/log.js';
import { quietLogger } from '../../helpers/logs.js';

export const KIOSK_ID = 'pickup-test';

/**
 * One pcscd directory for every world of this test process: pcsc-lite (inside the kiosk runtime's
 * chip station) reads its socket's name once per process, so a second world on a socket of its
 * own would leave the kiosk talking to the first world's stopped pcscd (card reader `missing`).
 * Worlds run one after another in a file, so they never share a live pcscd.
 */
const PCSCD_DIR = join(mkdtempSync(join(tmpdir(), 'pickup-pcscd-')), 'pcscd');

export interface PickupWorld {
  rig: DemoRig;
  runtime: KioskRuntime;
  dataDir: string;
  stop(): Promise<void>;
}

export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The kiosk's configuration against a rig: every emulated device, the chip station, short timeouts. */
export function kioskConfigInput(
  rig: DemoRig,
  dataDir: string,
  kioskId: string,
  trayTakeMs = 5000,
): KioskConfigInput {
  return {
    kiosk: { id: kioskId },
    mqtt: {
      url: rig.brokerUrl,
      protocolVersion: 4,
      keepaliveSeconds: 10,
      reconnect: { minMs: 200, maxMs: 1000 },
    },
    dataDir,
    // no speech here: these tests drive sessions, not the page, and espeak-ng rendering every clip
    // in the background would compete with them (and with bench:session's kiosk time) for the CPU;
    // the demo, the e2e run and test/integration/ui/speech.test.ts speak
    ui: { host: '127.0.0.1', port: 0, speech: { enabled: false } },
    devices: {
      scanner: { path: rig.devices.scanner, baudRate: 9600 },
      fingerprint: { path: rig.devices.fingerprint, baudRate: 57600 },
      printer: { path: rig.devices.printer, baudRate: 9600 },
      dispenser: { path: rig.devices.dispenser, baudRate: 57600 },
      cardReader: { kind: 'pcsc', reader: rig.devices.cardReader, pcscdSocket: rig.devices.pcscdSocket },
      probeIntervalMs: 1000,
    },
    timeouts: { trayTakeMs, fingerAttemptMs: 5000, sessionIdleMs: 30_000 },
    // many sessions in a row from one test: the ID rate limit (issue 12) is tested on its own
    sessions: {
      trustList: rig.trustList,
      resultMs: 2000,
      identifyRateLimit: { attempts: 1000, windowMs: 60_000 },
    },
    fleet: { registrySigningKey: rig.registryKeys.signing, registrySealingKey: rig.registryKeys.sealing },
  };
}

export interface PickupWorldOptions {
  log?: Logger;
  rigLog?: Logger;
  trayTakeMs?: number;
  /** changes to the kiosk's configuration (e.g. GPIO) before it is parsed */
  configure?: (input: KioskConfigInput) => void;
  extras?: KioskRuntimeExtras;
}

/** The rig's devices did not all come up for the kiosk: the world is torn down and said why. */
class WorldDevicesDown extends Error {
  override readonly name = 'WorldDevicesDown';
}

/**
 * A world whose devices are all up, its vault loaded, in attract. A world whose devices do not
 * come up within the deadline (seen a few times on the loaded 2-core CI machine: the dispenser
 * unanswered and the chip station's reader missing together, never reproduced alone) is torn down
 * and built once more, with each part's health detail printed, so that a run says what happened
 * instead of failing a test about something else. A second failure fails the test.
 */
export async function startPickupWorld(options: PickupWorldOptions = {}): Promise<PickupWorld> {
  try {
    return await buildPickupWorld(options);
  } catch (error) {
    if (!(error instanceof WorldDevicesDown)) throw error;
    process.stderr.write(`pickup world: ${error.message}; building the world again\n`);
    return buildPickupWorld(options);
  }
}

async function buildPickupWorld(options: PickupWorldOptions): Promise<PickupWorld> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pickup-'));
  const rig = await startDemoRig({
    dataDir: join(dataDir, 'rig'),
    brokerPort: 0,
    log: options.rigLog ?? quietLogger(),
    kioskId: KIOSK_ID,
    pcscdDir: PCSCD_DIR,
  });
  const input = kioskConfigInput(rig, join(dataDir, 'kiosk'), KIOSK_ID, options.trayTakeMs);
  options.configure?.(input);
  const config = parseConfig(input, 'test');
  const runtime = createKioskRuntime(config, options.log ?? quietLogger(), options.extras);
  await runtime.start();
  const stop = async () => {
    await runtime.stop().catch(() => undefined);
    await rig.stop();
  };
  try {
    await until(() => Object.values(runtime.devices.summary()).every((state) => state === 'ok'), 20_000);
  } catch {
    const parts = JSON.stringify(runtime.devices.health().parts);
    await stop();
    throw new WorldDevicesDown(`devices not all up within 20000 ms: ${parts}`);
  }
  await until(async () => (await runtime.vault.awaitingLoad()).length === 3, 30_000, 'manifest staged');
  const loaded = await runtime.loadVault([0, 1, 2]);
  if (loaded.loaded.length !== 3) throw new Error(`vault load matched ${loaded.loaded.length} of 3 cards`);
  await until(() => runtime.sessions.phase === 'attract', 10_000, 'attract');
  return { rig, runtime, dataDir, stop };
}

/**
 * Three wrong fingers as a citizen gives them: a wrong finger on the sensor, and after each miss
 * (shown, the kiosk waiting for the lift) the finger lifted and placed again. The kiosk never
 * starts the next attempt while the finger still lies there (issue 15).
 */
export async function wrongFingerWithLifts(world: PickupWorld, attempts: number): Promise<void> {
  const sessions = world.runtime.sessions;
  await world.rig.citizenControl('finger', ['wrong']);
  for (let miss = 1; miss < attempts; miss++) {
    await until(() => sessions.current().liftFinger === true, 20_000, `miss ${miss} shown, lift awaited`);
    await world.rig.citizenControl('finger', ['none']);
    await until(
      () => sessions.current().messageKey === 'finger.try-again',
      20_000,
      `attempt ${miss + 1} after the lift`,
    );
    await world.rig.citizenControl('finger', ['wrong']);
  }
}

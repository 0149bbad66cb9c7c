/**
 * The demo rig: the world around a kiosk (embedded broker, reference registry, device emulators on
 * ptys, the vault's chips) and its control socket. Demo and tests only: not in dist.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import {
  buildChipImage,
  ChipEmulator,
  createPtyPair,
  DispenserEmulator,
  FingerprintEmulator,
  PrinterEmulator,
  type PtyPair,
  ScannerEmulator,
  syntheticFinger,
} from '../../devices/index.js';
import { EmbeddedBroker } from '../link/embedded-broker.js';
import { ensureTestCa } from '../registry/enrolment.js';
import { ReferenceRegistry } from '../registry/registry.js';
import { createLogger, type Logger } from '../util/log.js';
import { DEMO_CITIZENS, qrOf, registryCitizenOf } from './citizens.js';
import { VirtualChipStation } from './chip-station.js';
import { VPCD_READER_NAME } from './pcscd.js';
import { createTestPki, type TestPki } from './test-pki.js';

/**
 * The demo's "world around the kiosk": embedded broker, reference registry and device emulators
 * on ptys. It runs in a child process so that a kiosk killed with SIGKILL leaves a broker behind
 * to deliver its last will, as in a real deployment; it exits on its own soon after its parent.
 */
export interface DemoRigReady {
  type: 'ready';
  brokerUrl: string;
  devices: DemoDevicePaths;
  /** file holding a one-time enrolment token for `kiosk provision` (new at every start) */
  enrolmentTokenFile?: string;
  /** the CSCA the rig's chips are signed under (the kiosk's `sessions.trustList`) */
  trustList?: string;
  /** the registry's public keys a kiosk pins (`fleet.registrySigningKey` / `registrySealingKey`) */
  registryKeys?: { signing: string; sealing: string };
}

/** The host ends of the demo's emulator ptys, and the chip station's PC/SC reader. */
export interface DemoDevicePaths {
  scanner: string;
  fingerprint: string;
  printer: string;
  dispenser: string;
  /** the rig's own pcscd (the kiosk's `devices.cardReader.pcscdSocket`) */
  pcscdSocket: string;
  /** the chip station's reader as PC/SC names it (the kiosk's `devices.cardReader.reader`) */
  cardReader: string;
}

/** What the rig's control socket can unplug and replug. */
export type PluggableDevice = 'fingerprint' | 'printer' | 'dispenser' | 'cardReader';

export interface DemoRigOptions {
  dataDir: string;
  brokerPort: number;
  /** a broker to use instead of the embedded one (the registry connects there; brokerPort unused) */
  brokerUrl?: string;
  log: Logger;
  /** the demo kiosk: its registry stages the demo citizens' pickups for it */
  kioskId?: string;
  /**
   * where the rig's pcscd lives (its socket is `<dir>/pcscd.comm`); absent: `<dataDir>/pcscd`.
   * pcsc-lite reads its socket's name once per process, so rigs started one after another for
   * kiosks in one process must share this directory.
   */
  pcscdDir?: string;
}

export interface DemoRig {
  brokerUrl: string;
  registry: ReferenceRegistry;
  scanner: ScannerEmulator;
  fingerprint: FingerprintEmulator;
  printer: PrinterEmulator;
  dispenser: DispenserEmulator;
  devices: DemoDevicePaths;
  /**
   * unplugs or replugs an emulated device, as the control socket does: a serial one's pty pair is
   * closed; the card reader's pcscd is stopped (its reader disappears) and started again
   */
  control(command: 'unplug' | 'replug', device: PluggableDevice): Promise<void>;
  /** the chip station: the card at the dispenser's station is the card in the vpcd reader */
  chipStation: VirtualChipStation;
  /** the vault's cards by slot: each slot's chip (swap them to put another citizen's card in a slot) */
  chips: Map<number, ChipEmulator>;
  trustList: string;
  /** the test PKI the vault's chips are signed with (its CSCA is `trustList`) */
  pki: TestPki;
  /** the registry's public keys a kiosk pins (`fleet.registrySigningKey` / `registrySealingKey`) */
  registryKeys: { signing: string; sealing: string };
  /** the citizen-side controls of the rig socket: `finger`, `scan`, `take`, `citizens` */
  citizenControl(command: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startDemoRig(options: DemoRigOptions): Promise<DemoRig> {
  const { dataDir, log } = options;
  mkdirSync(dataDir, { recursive: true });
  // the embedded broker, unless the rig joins a broker of the caller's (e.g. Mosquitto with TLS)
  const broker = options.brokerUrl
    ? { url: options.brokerUrl, stop: async () => undefined }
    : new EmbeddedBroker({ preferredPort: options.brokerPort, log: log.child({ room: 'broker' }) });
  if (broker instanceof EmbeddedBroker) await broker.start();
  const registry = new ReferenceRegistry({
    brokerUrl: broker.url,
    databaseFile: join(dataDir, 'registry.sqlite'),
    log: log.child({ room: 'registry' }),
    // the registry's test CA signs the certificates of kiosks provisioned against the demo
    enrolmentCa: await ensureTestCa(join(dataDir, 'ca')),
  });
  const ptys: PtyPair[] = [];
  const pluggable = new Map<
    string,
    { pty: PtyPair; emulator: { start(): Promise<void>; stop(): Promise<void> } }
  >();
  let controlServer: Server | undefined;
  const station: { virtual?: VirtualChipStation } = {};
  const stopAll = async () => {
    controlServer?.close();
    await station.virtual?.stop().catch(() => undefined);
    await scanner.stop().catch(() => undefined);
    for (const { emulator } of pluggable.values()) await emulator.stop().catch(() => undefined);
    await Promise.all([...ptys, ...[...pluggable.values()].map(({ pty }) => pty)].map((pty) => pty.close()));
    await registry.stop().catch(() => undefined);
    await broker.stop();
  };
  const scannerPty = await createPtyPair(
    join(dataDir, 'dev', 'scanner'),
    join(dataDir, 'dev', 'scanner.emu'),
  );
  ptys.push(scannerPty);
  const scanner = new ScannerEmulator({ path: scannerPty.emulatorPath });
  const emulatorPty = (name: string) =>
    createPtyPair(join(dataDir, 'dev', name), join(dataDir, 'dev', `${name}.emu`));
  const fingerprintPty = await emulatorPty('fingerprint');
  const fingerprint = new FingerprintEmulator({ path: fingerprintPty.emulatorPath });
  // the demo citizen's finger lies on the sensor
  fingerprint.placeFinger(syntheticFinger('demo-citizen'));
  const printerPty = await emulatorPty('printer');
  // each receipt's PNG under the rig's data dir, for the demo panel (panel.ts: last-receipt.png)
  const printer = new PrinterEmulator({
    path: printerPty.emulatorPath,
    baudRate: 9600,
    pngDir: join(dataDir, 'printer'),
  });
  const dispenserPty = await emulatorPty('dispenser');
  const dispenser = new DispenserEmulator({ path: dispenserPty.emulatorPath });
  dispenser.loadCards([0, 1, 2, 3]);
  // The vault: one card per demo citizen, chips signed by a test CSCA the kiosk trusts.
  const pki = createTestPki();
  const trustList = join(dataDir, 'csca.pem');
  writeFileSync(trustList, pki.trustListPem);
  const chips = new Map<number, ChipEmulator>(
    DEMO_CITIZENS.map((citizen, slot) => [
      slot,
      // PACE-only chips: the pickup must open them with PACE-CAN (a BAC attempt is refused, 6982)
      new ChipEmulator(buildChipImage({ record: citizen.record, pki, access: 'pace-only' })),
    ]),
  );
  station.virtual = await VirtualChipStation.start(
    options.pcscdDir ?? join(dataDir, 'pcscd'),
    dispenser,
    chips,
    log.child({ room: 'chip-station' }),
  );
  const chipStation = station.virtual;
  const citizenControl = async (command: string, args: string[]): Promise<string> => {
    switch (command) {
      case 'finger': {
        const who = args[0] ?? '';
        const citizen = DEMO_CITIZENS.find((c) => c.record.idNumber === who || c.pickupId === who);
        if (who === 'none') fingerprint.placeFinger(undefined);
        else if (who === 'wrong') fingerprint.placeFinger(syntheticFinger('someone-else'));
        else if (citizen) fingerprint.placeFinger(syntheticFinger(citizen.fingerSeed));
        else throw new Error('expected "finger <ID number | pickup id | wrong | none>"');
        return 'ok';
      }
      case 'scan':
        await scanner.scan(args.join(' '));
        return 'ok';
      case 'take':
        return dispenser.takeCard() ? 'ok' : 'error: no card in the tray';
      case 'citizens':
        // fabricated demo data (cccd-facts.md §1.3), for the demo panel's buttons
        return JSON.stringify(
          DEMO_CITIZENS.map((c) => ({
            pickupId: c.pickupId,
            idNumber: c.record.idNumber,
            name: c.record.fullName,
            qr: qrOf(c.record),
          })),
        );
      default:
        throw new Error(`unknown command "${command}"`);
    }
  };
  pluggable.set('fingerprint', { pty: fingerprintPty, emulator: fingerprint });
  pluggable.set('printer', { pty: printerPty, emulator: printer });
  pluggable.set('dispenser', { pty: dispenserPty, emulator: dispenser });
  const control = async (command: 'unplug' | 'replug', device: PluggableDevice) => {
    if (device === 'cardReader') return command === 'unplug' ? chipStation.unplug() : chipStation.replug();
    const entry = pluggable.get(device);
    if (!entry) throw new Error(`no pluggable emulator "${device}"`);
    if (command === 'unplug') {
      await entry.emulator.stop();
      await entry.pty.close();
    } else {
      entry.pty = await emulatorPty(device);
      await entry.emulator.start();
    }
  };
  try {
    await registry.start();
    for (const citizen of DEMO_CITIZENS) await registry.citizens.addCitizen(registryCitizenOf(citizen));
    if (options.kioskId)
      for (const citizen of DEMO_CITIZENS)
        await registry.citizens.stagePickup(options.kioskId, citizen.pickupId, citizen.record.idNumber);
    dispenser.loadCards(chips.keys());
    await scanner.start();
    for (const { emulator } of pluggable.values()) await emulator.start();
    controlServer = await startRigControl(join(dataDir, 'rig.sock'), control, log, citizenControl);
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    brokerUrl: broker.url,
    registry,
    scanner,
    fingerprint,
    printer,
    dispenser,
    devices: {
      scanner: scannerPty.devicePath,
      fingerprint: fingerprintPty.devicePath,
      printer: printerPty.devicePath,
      dispenser: dispenserPty.devicePath,
      pcscdSocket: chipStation.pcscd.socketPath,
      cardReader: VPCD_READER_NAME,
    },
    control,
    chipStation,
    chips,
    trustList,
    pki,
    registryKeys: {
      signing: registry.keys.signingPublicKey,
      sealing: registry.keys.sealingPublicKey,
    },
    citizenControl,
    stop: stopAll,
  };
}

/**
 * The rig's control socket (`<rig dir>/rig.sock`): one line per command, `unplug fingerprint` or
 * `replug fingerprint`, answered `ok` or `error: …`. It lets a technician (or a test) pull a
 * device's cable in the running demo.
 */
async function startRigControl(
  path: string,
  control: DemoRig['control'],
  log: Logger,
  citizenControl?: DemoRig['citizenControl'],
): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const [command, device, ...rest] = buffer.slice(0, newline).trim().split(/\s+/);
        buffer = buffer.slice(newline + 1);
        if (citizenControl && command && command !== 'unplug' && command !== 'replug') {
          citizenControl(command, [device ?? '', ...rest].filter(Boolean)).then(
            (answer) => socket.write(`${answer}\n`),
            (error: Error) => socket.write(`error: ${error.message}\n`),
          );
          continue;
        }
        if ((command !== 'unplug' && command !== 'replug') || !device) {
          socket.write('error: expected "unplug <device>" or "replug <device>"\n');
          continue;
        }
        control(command, device as PluggableDevice).then(
          () => {
            log.info({ command, device }, 'rig control');
            socket.write('ok\n');
          },
          (error: Error) => socket.write(`error: ${error.message}\n`),
        );
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolveListen());
  });
  return server;
}

/** The kiosk id the demo registers for `kiosk provision` (its enrolment token is bound to it). */
export const DEMO_ENROL_KIOSK_ID = 'hn-0042';

/** Body of the rig child process (src/cli/demo-rig.ts). */
export async function runDemoRigProcess(options: Omit<DemoRigOptions, 'log'>): Promise<void> {
  const log = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'info', pretty: true }).child({
    proc: 'rig',
  });
  // Ctrl-C is the parent's to handle; it tells us to stop over IPC once the kiosk has stopped.
  process.on('SIGINT', () => undefined);
  const rig = await startDemoRig({ ...options, log });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await rig.stop();
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'stop') void stop(0);
  });
  // The parent died (even by SIGKILL): give the broker a moment to deliver the last will, then go.
  process.on('disconnect', () => setTimeout(() => void stop(0), 1500));
  // `kiosk provision` against the demo takes its one-time token from this file. A token is bound
  // to one kiosk id that operations registered: the demo registers DEMO_ENROL_KIOSK_ID.
  const enrolmentTokenFile = join(options.dataDir, 'enrolment-token');
  writeFileSync(enrolmentTokenFile, `${await rig.registry.issueEnrolmentToken(DEMO_ENROL_KIOSK_ID)}\n`, {
    mode: 0o600,
  });
  const ready: DemoRigReady = {
    type: 'ready',
    brokerUrl: rig.brokerUrl,
    devices: rig.devices,
    enrolmentTokenFile,
    trustList: rig.trustList,
    registryKeys: rig.registryKeys,
  };
  process.send?.(ready);
}

/**
 * Wiring. This is the only module that constructs subsystems (STYLE.md practice 4): it reads the
 * configuration, creates the bus, the devices, the link and the UI, and hands each what it needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPtyPair,
  DispenserEmulator,
  FingerprintEmulator,
  JohnnyFiveDispenser,
  type GpioBackend,
  KioskGpio,
  onoffBackend,
  PrinterEmulator,
  PtyChipServer,
  SerialChipStation,
  ChipEmulator,
  buildChipImage,
  createTestPki,
  type PtyPair,
  ScannerEmulator,
  SerialFingerprintSensor,
  SerialReceiptPrinter,
  SerialScanner,
  syntheticFinger,
} from '../devices/index.js';
import { type KioskConfig, parseConfig } from './config/index.js';
import { FleetService, withPushedSettings } from './fleet/index.js';
import { DeviceManager, type ManagedDevice } from './kiosk/device-manager.js';
import { type SessionDevices, SessionOrchestrator } from './kiosk/session.js';
import { ManifestRejected, Vault } from './kiosk/vault.js';
import { configuredGuardInputs, GpioGuard } from './kiosk/gpio-guard.js';
import { withMoveJournal } from './kiosk/reconcile.js';
import { loadVault, type VaultLoadResult } from './kiosk/vault-load.js';
import { parseTrustList } from './card/pa.js';
import { loadOrCreateSealingIdentity, sealingIdentityPath } from './store/seal.js';
import type { InboundHandlers } from './link/inbound.js';
import { EmbeddedBroker } from './link/embedded-broker.js';
import { KioskLink } from './link/link.js';
import { topics } from './link/topics.js';
import { ensureTestCa } from './registry/enrolment.js';
import { ReferenceRegistry } from './registry/registry.js';
import { DEMO_CITIZENS, qrOf, registryCitizenOf } from './registry/demo-citizens.js';
import { JobRunner, Store } from './store/index.js';
import {
  type DemoControl,
  DemoCitizensSchema,
  panelCitizen,
  RigControlError,
  rigControlLine,
} from './ui/demo-control.js';
import { UiServer, type UiStatus } from './ui/server.js';
import { EventBus } from './util/bus.js';
import type { RuntimeEvents } from './util/events.js';
import { type Health, Lifecycle } from './util/lifecycle.js';
import { createLogger, type Logger } from './util/log.js';
import { SystemdNotifier } from './util/sd-notify.js';
import { runtimeVersion } from './util/version.js';

export interface KioskRuntime {
  readonly config: KioskConfig;
  readonly ui: UiServer;
  readonly link: KioskLink;
  readonly devices: DeviceManager;
  readonly bus: EventBus<RuntimeEvents>;
  readonly store: Store;
  readonly fleet: FleetService;
  /** the citizen sessions: what the UI server drives (SessionController) */
  readonly sessions: SessionOrchestrator;
  readonly vault: Vault;
  /** `kiosk vault load`: identifies the cards a technician put into `slots` and records them */
  loadVault(slots: readonly number[]): Promise<VaultLoadResult>;
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): Record<string, Health>;
}

/** What only some runs add: the demo's control panel (`kiosk demo`), the file's configuration. */
export interface KioskRuntimeExtras {
  /** the GPIO lines (default onoff over sysfs; tests on machines without gpio-sim pass FakeGpio) */
  gpioBackend?: () => Promise<GpioBackend>;
  demo?: DemoControl;
  /** the configuration from the file, when `config` has pushed settings layered on it (runKiosk) */
  fileConfig?: KioskConfig;
}

export function createKioskRuntime(
  config: KioskConfig,
  log: Logger,
  extras: KioskRuntimeExtras = {},
): KioskRuntime {
  mkdirSync(config.dataDir, { recursive: true });
  const fileConfig = extras.fileConfig ?? config;
  const bus = new EventBus<RuntimeEvents>(log);
  const startedAt = new Date().toISOString();
  const version = runtimeVersion();

  const store = new Store({
    file: join(config.dataDir, 'kiosk.sqlite'),
    synchronous: config.store.synchronous,
    maxSizeBytes: config.store.maxSizeMb === undefined ? undefined : config.store.maxSizeMb * 1024 * 1024,
    defaultTopic: topics.events(config.kiosk.id),
    log: log.child({ room: 'store' }),
  });
  store.on((event) => {
    if (event.kind === 'health')
      bus.emit('store.health', { ...event.health, acceptsNewSessions: store.acceptsNewSessions });
  });
  const jobs = new JobRunner({
    jobs: store.jobs,
    handlers: new Map(),
    backoff: { minMs: 1000, maxMs: 15 * 60_000 },
    pollMs: 1000,
    log: log.child({ room: 'jobs' }),
  });

  const drivers = new Map<string, ManagedDevice>();
  const disabled: string[] = [];
  const scannerConfig = config.devices.scanner;
  if (scannerConfig?.enabled) {
    const scanner = new SerialScanner({ path: scannerConfig.path, baudRate: scannerConfig.baudRate });
    scanner.on('scan', (text) => bus.emit('scanner.scan', { text, at: Date.now() }));
    scanner.on('rejected', (error) =>
      log.warn({ reason: error.reason, length: error.length }, 'scanner frame rejected'),
    );
    drivers.set('scanner', scanner);
  } else if (scannerConfig) {
    disabled.push('scanner');
  }
  addConfiguredDevices(config, drivers, disabled, log, extras.gpioBackend);
  const devices = new DeviceManager(drivers, disabled, bus, log.child({ room: 'devices' }));
  devices.probeIntervalMs = config.devices.probeIntervalMs;

  // Loggers made from here on follow `set-log-level` (pino children copy their parent's level).
  const loggers: WeakRef<Logger>[] = [];
  log.onChild = (child) => {
    loggers.push(new WeakRef(child));
  };
  const setLogLevel = (level: string) => {
    log.level = level;
    for (const ref of loggers) {
      const child = ref.deref();
      if (child) child.level = level;
    }
  };
  // the fleet answers commands through the link, which is made after it (it takes the fleet's handlers)
  const linkHolder: { link?: KioskLink } = {};
  const fleet = new FleetService({
    kioskId: config.kiosk.id,
    baseConfig: fileConfig,
    store,
    bus,
    log: log.child({ room: 'fleet' }),
    publish: (topic, message) =>
      linkHolder.link ? linkHolder.link.publish(topic, message) : Promise.reject(new Error('no link')),
    health: () => {
      const unwell = Object.entries(devices.summary()).filter(
        ([, state]) => state === 'missing' || state === 'degraded',
      );
      if (unwell.length > 0)
        return {
          healthy: false,
          detail: `devices: ${unwell.map(([name, state]) => `${name} ${state}`).join(', ')}`,
        };
      if (store.health().state === 'down') return { healthy: false, detail: 'store down' };
      return { healthy: true };
    },
    diagnostics: () => ({
      kioskId: config.kiosk.id,
      version,
      startedAt,
      uptimeSeconds: Math.round(process.uptime()),
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
      memoryMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
      logLevel: log.level,
      parts: lifecycle.health(),
      devices: devices.summary(),
      queueDepth: store.queueDepth,
      acceptsNewSessions: store.acceptsNewSessions,
    }),
    setLogLevel,
  });
  // a pushed `log.level` takes effect at once (others wait for a restart or for their room to react)
  let pushedLevel = config.log.level;
  bus.on('main', 'config.applied', () => {
    if (fleet.config.log.level === pushedLevel) return;
    pushedLevel = fleet.config.log.level;
    setLogLevel(pushedLevel);
  });
  // The vault: manifest secrets are sealed to this kiosk's X25519 key (made at first start).
  const identity = loadOrCreateSealingIdentity(sealingIdentityPath(config.dataDir));
  const vault = new Vault(store, identity);
  const inbound = kioskInbound(vault, log.child({ room: 'vault' }));

  const link = new KioskLink({
    kioskId: config.kiosk.id,
    url: config.mqtt.url,
    protocolVersion: config.mqtt.protocolVersion,
    keepaliveSeconds: config.mqtt.keepaliveSeconds,
    tls: config.mqtt.tls,
    reconnect: config.mqtt.reconnect,
    log: log.child({ room: 'link' }),
    bus,
    describe: () => ({
      version,
      startedAt,
      devices: devices.summary(),
      queueDepth: store.queueDepth,
      sealingKey: identity.publicKeyBase64,
    }),
    store,
    window: config.store.outboxWindow,
    requestTimeoutMs: config.timeouts.requestMs,
    inbound: { ...inbound, ...fleet.inbound },
    subscriptions: fleet.subscriptions,
  });
  const sessionDevices = withMoveJournal(sessionDevicesOf(config, drivers), store);
  const trustAnchors = config.sessions.trustList
    ? parseTrustList(readFileSync(config.sessions.trustList, 'utf8'))
    : [];
  const sessions = new SessionOrchestrator({
    settings: {
      timeouts: {
        idleMs: config.timeouts.sessionIdleMs,
        fingerAttemptMs: config.timeouts.fingerAttemptMs,
        trayTakeMs: config.timeouts.trayTakeMs,
        resultMs: config.sessions.resultMs,
      },
      maxFingerAttempts: config.sessions.fingerAttempts,
      neededDevices: [
        ...(config.devices.cardReader
          ? ['fingerprint', 'dispenser', 'cardReader']
          : ['fingerprint', 'dispenser']),
        ...configuredGuardInputs(config.devices.gpio),
      ],
    },
    devices: sessionDevices,
    deviceStates: () => devices.summary(),
    isLocked: () => fleet.isLocked,
    vault,
    store,
    identity,
    trustAnchors,
    request: (op, type, body, expected, timeoutMs) => link.request(op, type, body, expected, timeoutMs),
    requestTimeoutMs: config.timeouts.requestMs,
    bus,
    log: log.child({ room: 'sessions' }),
  });
  linkHolder.link = link;
  bus.on('main', 'device.health', () => void link.publishStatus());
  // The retained status carries the queue depth: refreshed at most every 5 s while it changes.
  let statusRefresh: NodeJS.Timeout | undefined;
  store.on((event) => {
    if (event.kind !== 'outbox' || statusRefresh) return;
    statusRefresh = setTimeout(() => {
      statusRefresh = undefined;
      void link.publishStatus();
    }, 5000);
    statusRefresh.unref();
  });

  const ui: UiServer = new UiServer({
    host: config.ui.host,
    port: config.ui.port,
    log: log.child({ room: 'ui' }),
    status: (): UiStatus => ({ kioskId: config.kiosk.id, version, startedAt, parts: lifecycle.health() }),
    sessions,
    ...(extras.demo ? { demo: extras.demo } : {}),
  });
  const gpio = drivers.get('gpio');
  const guard =
    gpio instanceof KioskGpio
      ? [
          new GpioGuard({
            gpio,
            inputs: configuredGuardInputs(config.devices.gpio),
            store,
            bus,
            log,
            sessions,
          }),
        ]
      : [];
  const lifecycle: Lifecycle = new Lifecycle(
    [store, jobs, devices, fleet, link, vault, sessions, ...guard, ui],
    log,
  );

  return {
    config,
    ui,
    link,
    devices,
    bus,
    store,
    fleet,
    sessions,
    vault,
    loadVault: (slots) => {
      const { dispenser, openChipStation } = sessionDevices;
      if (!dispenser || !openChipStation)
        return Promise.reject(new Error('vault load needs the dispenser and the chip station'));
      return loadVault(slots, {
        vault,
        store,
        ...(gpio instanceof KioskGpio ? { doorLock: gpio } : {}),
        identity,
        dispenser,
        openChipStation,
        trustAnchors,
        log: log.child({ room: 'vault' }),
      });
    },
    start: () => lifecycle.start(),
    stop: async () => {
      clearTimeout(statusRefresh);
      await lifecycle.stop();
      bus.off('main');
    },
    health: () => lifecycle.health(),
  };
}

/**
 * The devices of issue 4 besides the scanner: fingerprint sensor, receipt printer, card dispenser
 * (johnny-five) and GPIO, each only when configured; disabled ones are listed as such.
 */
export function addConfiguredDevices(
  config: KioskConfig,
  drivers: Map<string, ManagedDevice>,
  disabled: string[],
  log: Logger,
  gpioBackend: () => Promise<GpioBackend> = onoffBackend,
): void {
  const { fingerprint, printer, dispenser, gpio } = config.devices;
  if (fingerprint?.enabled)
    drivers.set(
      'fingerprint',
      new SerialFingerprintSensor({ path: fingerprint.path, baudRate: fingerprint.baudRate }),
    );
  else if (fingerprint) disabled.push('fingerprint');
  if (printer?.enabled)
    drivers.set('printer', new SerialReceiptPrinter({ path: printer.path, baudRate: printer.baudRate }));
  else if (printer) disabled.push('printer');
  if (dispenser?.enabled)
    drivers.set('dispenser', new JohnnyFiveDispenser({ path: dispenser.path, baudRate: dispenser.baudRate }));
  else if (dispenser) disabled.push('dispenser');
  if (gpio?.enabled) {
    const kioskGpio = new KioskGpio(
      {
        inputs: gpio.inputs,
        leds: gpio.leds,
        debounceMs: gpio.debounceMs,
        ...(gpio.doorLock ? { doorLock: gpio.doorLock } : {}),
      },
      gpioBackend,
      gpio.sysfsRoot,
    );
    kioskGpio.on('input', (name, active) => log.info({ input: name, active }, 'gpio input'));
    drivers.set('gpio', kioskGpio);
  } else if (gpio) disabled.push('gpio');
  const reader = config.devices.cardReader;
  if (reader?.enabled && reader.kind === 'serial' && reader.path)
    drivers.set('cardReader', new SerialChipStation(reader.path));
  else if (reader && !reader.enabled) disabled.push('cardReader');
}

/** Manifest entries (staging, withdrawal) and update statuses, each applied in its inbox transaction. */
function kioskInbound(vault: Vault, log: Logger): InboundHandlers {
  return {
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

/** The drivers a citizen session uses, picked out of the configured ones; the chip station by config. */
function sessionDevicesOf(config: KioskConfig, drivers: Map<string, ManagedDevice>): SessionDevices {
  const fingerprint = drivers.get('fingerprint');
  const dispenser = drivers.get('dispenser');
  const printer = drivers.get('printer');
  const station = drivers.get('cardReader');
  return {
    ...(fingerprint instanceof SerialFingerprintSensor ? { fingerprint } : {}),
    ...(dispenser instanceof JohnnyFiveDispenser ? { dispenser } : {}),
    ...(printer instanceof SerialReceiptPrinter ? { printer } : {}),
    ...(station instanceof SerialChipStation ? { openChipStation: () => station.open() } : {}),
  };
}

/** The configured devices as `kiosk doctor` probes them directly (no kiosk running). */
export function createDevicesForDoctor(
  config: KioskConfig,
  log: Logger,
): {
  drivers: Map<string, ManagedDevice>;
  disabled: string[];
} {
  const drivers = new Map<string, ManagedDevice>();
  const disabled: string[] = [];
  const scannerConfig = config.devices.scanner;
  if (scannerConfig?.enabled)
    drivers.set('scanner', new SerialScanner({ path: scannerConfig.path, baudRate: scannerConfig.baudRate }));
  else if (scannerConfig) disabled.push('scanner');
  addConfiguredDevices(config, drivers, disabled, log);
  return { drivers, disabled };
}

// ---- process handling ------------------------------------------------------------------------

/**
 * Runs `stop` on SIGINT/SIGTERM within `deadlineMs` and exits 0 (1 if the deadline passed); a
 * second signal exits at once. An uncaught error is logged and exits 1 after a bounded stop.
 */
export function exitOnSignals(stop: () => Promise<void>, log: Logger, deadlineMs: number): void {
  let stoppingSince: number | undefined;
  const shutdown = (reason: string, code: number) => {
    if (stoppingSince !== undefined) {
      // `npm start` forwards the terminal's Ctrl-C that we also received: one press, two signals.
      if (performance.now() - stoppingSince < 500) return;
      log.warn({ reason }, 'second signal: exiting now');
      process.exit(130);
    }
    stoppingSince = performance.now();
    log.info({ reason }, 'stopping');
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'stop did not finish in time; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(code);
      },
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception');
    shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (error) => {
    log.fatal({ err: error }, 'unhandled promise rejection');
    shutdown('unhandledRejection', 1);
  });
}

/** Exit status after an operations `restart` (EX_TEMPFAIL, sysexits.h): systemd restarts the unit. */
export const EXIT_RESTART_REQUESTED = 75;

export async function runKiosk(config: KioskConfig): Promise<void> {
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty });
  const runtime = createKioskRuntime(await withPushedSettings(config, log), log, { fileConfig: config });
  // under systemd (Type=notify): READY=1 after start, watchdog pings, STOPPING=1 (deploy/systemd)
  const notifier = new SystemdNotifier(process.env, undefined, (error) =>
    log.warn({ err: error.message }, 'systemd notification failed'),
  );
  exitOnSignals(
    async () => {
      await notifier.stopping();
      await runtime.stop();
    },
    log,
    config.timeouts.shutdownMs + 400,
  );
  // `restart` from operations: stop cleanly, then exit non-zero so systemd (Restart=on-failure) starts us again.
  runtime.bus.on('main:restart', 'fleet.restart', ({ by }) => {
    log.warn({ by }, 'restart requested by operations');
    void notifier
      .stopping()
      .then(() => runtime.stop())
      .finally(() => process.exit(EXIT_RESTART_REQUESTED));
  });
  await runtime.start();
  await notifier.ready(`kiosk ${config.kiosk.id} running`);
  log.info(
    { kioskId: config.kiosk.id, ui: runtime.ui.url, version: runtimeVersion() },
    'kiosk runtime ready',
  );
}

// ---- the demo --------------------------------------------------------------------------------

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
}

/** The host ends of the demo's emulator ptys. */
export interface DemoDevicePaths {
  scanner: string;
  fingerprint: string;
  printer: string;
  dispenser: string;
  /** the chip station's reader (serial link to the chip of the card at the station) */
  cardReader?: string;
}

export interface DemoRigOptions {
  dataDir: string;
  brokerPort: number;
  log: Logger;
  /** the demo kiosk: its registry stages the demo citizens' pickups for it */
  kioskId?: string;
}

export interface DemoRig {
  brokerUrl: string;
  registry: ReferenceRegistry;
  scanner: ScannerEmulator;
  fingerprint: FingerprintEmulator;
  printer: PrinterEmulator;
  dispenser: DispenserEmulator;
  devices: DemoDevicePaths;
  /** unplugs (closes the pty pair) or replugs an emulated device, as the control socket does */
  control(command: 'unplug' | 'replug', device: keyof DemoDevicePaths): Promise<void>;
  /** the vault's cards by slot: each slot's chip (swap them to put another citizen's card in a slot) */
  chips: Map<number, ChipEmulator>;
  trustList: string;
  /** the citizen-side controls of the rig socket: `finger`, `scan`, `take`, `citizens` */
  citizenControl(command: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startDemoRig(options: DemoRigOptions): Promise<DemoRig> {
  const { dataDir, log } = options;
  mkdirSync(dataDir, { recursive: true });
  const broker = new EmbeddedBroker({
    preferredPort: options.brokerPort,
    log: log.child({ room: 'broker' }),
  });
  await broker.start();
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
  const station: { server?: PtyChipServer } = {};
  const stopAll = async () => {
    controlServer?.close();
    await station.server?.close().catch(() => undefined);
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
  const printer = new PrinterEmulator({ path: printerPty.emulatorPath, baudRate: 9600 });
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
      new ChipEmulator(buildChipImage({ record: citizen.record, pki })),
    ]),
  );
  let chipAtStation: ChipEmulator | undefined;
  const stationChip = {
    // the chip of the card the dispenser holds at its station; none: "no card" (ISO 7816-4 6A82)
    process: (bytes: Uint8Array): Buffer => {
      const slot = dispenser.stationSlot;
      const chip = slot === undefined ? undefined : chips.get(slot);
      if (chip !== chipAtStation) chip?.reset();
      chipAtStation = chip;
      return chip ? chip.process(bytes) : Buffer.from([0x6a, 0x82]);
    },
  };
  const cardReaderPty = await emulatorPty('card-reader');
  ptys.push(cardReaderPty);
  const chipServer = await PtyChipServer.open(cardReaderPty.emulatorPath, stationChip);
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
  const control = async (command: 'unplug' | 'replug', device: keyof DemoDevicePaths) => {
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
  station.server = chipServer;
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
      cardReader: cardReaderPty.devicePath,
    },
    control,
    chips,
    trustList,
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
        control(command, device as keyof DemoDevicePaths).then(
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

/**
 * The demo page's control panel, talking to the rig child process over its control socket (the
 * same one a technician uses): the citizen's hands (`finger`, `scan`, `take`), the cables
 * (`unplug`, `replug`) and the list of demo citizens (`citizens`).
 */
export function rigDemoControl(socketPath: string): DemoControl {
  const ask = (line: string) =>
    new Promise<string>((resolveAsk, reject) => {
      const socket = connect(socketPath);
      let reply = '';
      socket.setEncoding('utf8');
      socket.setTimeout(5000, () => socket.destroy(new Error('rig control socket timed out')));
      socket.on('connect', () => socket.write(line));
      socket.on('data', (chunk: string) => {
        reply += chunk;
        const newline = reply.indexOf('\n');
        if (newline < 0) return;
        socket.end();
        const answer = reply.slice(0, newline).trim();
        if (answer.startsWith('error: ')) reject(new RigControlError(answer.slice('error: '.length)));
        else resolveAsk(answer);
      });
      socket.on('error', reject);
    });
  return {
    citizens: async () => DemoCitizensSchema.parse(JSON.parse(await ask('citizens\n'))).map(panelCitizen),
    run: async (command) => {
      await ask(rigControlLine(command));
    },
  };
}

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
  // `kiosk provision` against the demo takes its one-time token from this file.
  const enrolmentTokenFile = join(options.dataDir, 'enrolment-token');
  writeFileSync(enrolmentTokenFile, `${await rig.registry.issueEnrolmentToken()}\n`, { mode: 0o600 });
  const ready: DemoRigReady = {
    type: 'ready',
    brokerUrl: rig.brokerUrl,
    devices: rig.devices,
    enrolmentTokenFile,
    trustList: rig.trustList,
  };
  process.send?.(ready);
}

export interface DemoOptions {
  dataDir: string;
  uiPort: number;
  brokerPort: number;
  kioskId: string;
  logLevel: string;
  /** false: only the world around a kiosk (broker, registry, emulators), to provision a kiosk against */
  kiosk?: boolean;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}

function spawnRig(options: DemoOptions): Promise<{ child: ChildProcess; ready: DemoRigReady }> {
  const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const entry = fileURLToPath(new URL(`./cli/demo-rig.${extension}`, import.meta.url));
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      entry,
      '--data-dir',
      options.dataDir,
      '--broker-port',
      String(options.brokerPort),
      '--kiosk-id',
      options.kioskId,
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: { ...process.env, KIOSK_LOG_LEVEL: options.logLevel },
    },
  );
  return new Promise((resolveReady, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`demo rig exited before it was ready (${code ?? signal})`)),
    );
    child.on('message', (message: DemoRigReady) => {
      if (message?.type === 'ready') resolveReady({ child, ready: message });
    });
  });
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const log = createLogger({ level: options.logLevel, pretty: true });
  const dataDir = resolve(options.dataDir);
  // filled in as start-up proceeds; a signal during start-up stops whatever exists
  const parts: { rig?: ChildProcess; runtime?: KioskRuntime } = {};
  const stopRig = async () => {
    const child = parts.rig;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 1500))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  exitOnSignals(
    async () => {
      await parts.runtime?.stop();
      await stopRig();
    },
    log,
    2800,
  );
  const started = await spawnRig({ ...options, dataDir: join(dataDir, 'rig') });
  parts.rig = started.child;
  started.child.on('exit', (code, signal) => {
    if (code !== 0) log.error({ code, signal }, 'demo rig (broker, registry, emulators) exited');
  });
  if (options.kiosk === false) {
    const { brokerUrl, devices, enrolmentTokenFile } = started.ready;
    process.stdout.write(
      [
        `cccd-kiosk demo world ready (no kiosk): broker ${brokerUrl}, pid ${process.pid}; Ctrl-C stops`,
        `  enrolment token (one use): ${enrolmentTokenFile ?? '(none)'}`,
        `  devices: ${Object.entries(devices)
          .map(([name, path]) => `${name} ${path}`)
          .join(', ')}`,
        `  provision: kiosk provision --non-interactive --config <file> --kiosk-id <id> --broker ${brokerUrl} --mqtt-version 4 --token "$(cat ${enrolmentTokenFile ?? '<token file>'})" --scanner ${devices.scanner} --ports ${devices.fingerprint} ${devices.printer} ${devices.dispenser}`,
        '',
      ].join('\n'),
    );
    return;
  }
  const uiPort = options.uiPort === 0 || (await portIsFree(options.uiPort)) ? options.uiPort : 0;
  const config = parseConfig(
    {
      kiosk: { id: options.kioskId, site: 'demo' },
      mqtt: {
        url: started.ready.brokerUrl,
        protocolVersion: 4,
        keepaliveSeconds: 10,
        reconnect: { minMs: 200, maxMs: 5000 },
      },
      dataDir: join(dataDir, 'kiosk'),
      ui: { host: '127.0.0.1', port: uiPort },
      devices: {
        scanner: { path: started.ready.devices.scanner, baudRate: 9600 },
        fingerprint: { path: started.ready.devices.fingerprint, baudRate: 57600 },
        printer: { path: started.ready.devices.printer, baudRate: 9600 },
        dispenser: { path: started.ready.devices.dispenser, baudRate: 57600 },
        ...(started.ready.devices.cardReader
          ? { cardReader: { kind: 'serial' as const, path: started.ready.devices.cardReader } }
          : {}),
        probeIntervalMs: 2000,
      },
      ...(started.ready.trustList ? { sessions: { trustList: started.ready.trustList } } : {}),
      log: { level: options.logLevel, pretty: true },
    },
    'demo',
  );
  const runtime = createKioskRuntime(config, log, {
    demo: rigDemoControl(join(dataDir, 'rig', 'rig.sock')),
  });
  parts.runtime = runtime;
  await runtime.start();
  // `kiosk doctor --config <data dir>/kiosk.json` checks the demo's devices (through the running
  // kiosk while it runs; see src/cli/doctor.ts). The UI port is the one actually bound.
  const uiBound = { ...config.ui, port: Number(new URL(runtime.ui.url).port) };
  writeFileSync(join(dataDir, 'kiosk.json'), `${JSON.stringify({ ...config, ui: uiBound }, null, 2)}\n`);
  // "Ready" means the page shows every part up: give the link a moment to reach the broker.
  const linkDeadline = Date.now() + 5000;
  while (!runtime.link.connected && Date.now() < linkDeadline)
    await new Promise((done) => setTimeout(done, 20));
  // … and the devices: the dispenser is ok once its Firmata handshake is through.
  const devicesReady = () =>
    Object.values(runtime.devices.summary()).every((state) => state === 'ok' || state === 'disabled');
  while (!devicesReady() && Date.now() < linkDeadline) await new Promise((done) => setTimeout(done, 20));
  // The one line a newcomer waits for (issue: "prints one line with the URL when ready").
  void loadDemoVault(runtime, DEMO_CITIZENS.length, log);
  process.stdout.write(
    `cccd-kiosk demo ready: ${runtime.ui.url}  (kiosk ${config.kiosk.id}, broker ${started.ready.brokerUrl}, pid ${process.pid}; Ctrl-C stops)\n`,
  );
}

/**
 * The demo technician's `kiosk vault load`: once the registry's manifest entries have arrived (they
 * wait for the kiosk's sealing key), identify the cards in the first `count` slots.
 */
async function loadDemoVault(runtime: KioskRuntime, count: number, log: Logger): Promise<void> {
  const deadline = Date.now() + 15_000;
  try {
    while ((await runtime.vault.awaitingLoad()).length < count && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 100));
    const result = await runtime.loadVault(Array.from({ length: count }, (_, slot) => slot));
    log.info({ loaded: result.loaded.length, unmatched: result.unmatched }, 'demo: vault loaded');
  } catch (error) {
    log.error({ err: (error as Error).message }, 'demo: vault load failed');
  }
}

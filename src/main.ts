/**
 * Wiring. This is the only module that builds the runtime (STYLE.md practice 4): it reads the
 * configuration, creates the bus, the devices, the link and the UI, and hands each what it needs.
 * What is not wiring lives beside it: the device drivers a configuration asks for
 * (runtime/devices.ts), the inbound handlers (runtime/inbound.ts), signal handling
 * (runtime/process.ts). The demo (src/demo) is not part of the runtime and does not ship.
 */
import { type KioskConfig } from './config/index.js';
import { chooseBootConfig, FleetService } from './fleet/index.js';
import { watchReleaseProbation } from './update/release-probation.js';
import { InstalledReleaseWatch } from './update/installed-release.js';
import { RuntimeUpdate } from './update/runtime-update.js';
import { DeviceManager } from './kiosk/device-manager.js';
import { SessionOrchestrator } from './kiosk/session.js';
import { manifestTransport, Vault } from './kiosk/vault.js';
import { ManifestResync } from './kiosk/manifest-resync.js';
import { FingerGuard, fingerGuardOptions } from './kiosk/finger-guard.js';
import { PERSONAL_EVENT_TYPES } from './link/messages.js';
import { tightenTree } from './util/private-files.js';
import { type GpioBackend, KioskGpio } from '../devices/index.js';
import { configuredGuardInputs, GpioGuard } from './kiosk/gpio-guard.js';
import { withMoveJournal } from './kiosk/reconcile.js';
import { loadVault, type VaultLoadResult } from './kiosk/vault-load.js';
import { loadCardTrustFailClosed } from './kiosk/card-trust.js';
import { loadOrCreateSealingIdentity, sealingIdentityPath } from './store/seal.js';
import { updateSealer } from './store/hpke.js';
import { KioskLink } from './link/link.js';
import { topics } from './link/topics.js';
import { recoverStoreFile, Store, storeFile } from './store/index.js';
import { type DemoControl } from './ui/demo-control.js';
import { UiServer, type UiStatus } from './ui/server.js';
import { EventBus } from './util/bus.js';
import type { RuntimeEvents } from './util/events.js';
import { type Health, Lifecycle } from './util/lifecycle.js';
import { createLogger, type Logger } from './util/log.js';
import { SystemdNotifier } from './util/sd-notify.js';
import { runtimeVersion } from './util/version.js';
import { createDevices, sessionDevicesOf } from './runtime/devices.js';
import { kioskInbound } from './runtime/inbound.js';
import { kioskTelemetry } from './runtime/telemetry.js';
import { EXIT_RESTART_REQUESTED, exitOnSignals } from './runtime/process.js';
import { LiveConfig } from './runtime/live-config.js';
import { RestartAtIdle } from './runtime/restart.js';

export { EXIT_RESTART_REQUESTED, exitOnSignals } from './runtime/process.js';
export { addConfiguredDevices, createDevicesForDoctor } from './runtime/devices.js';

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
  /** software updates ordered by operations (issue 14) */
  readonly software: RuntimeUpdate;
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
  tightenTree(config.dataDir); // 0700 directories, 0600 files, whatever the umask (issue 12)
  const fileConfig = extras.fileConfig ?? config;
  const bus = new EventBus<RuntimeEvents>(log);
  const startedAt = new Date().toISOString();
  const version = runtimeVersion();

  const store = new Store({
    file: storeFile(config),
    synchronous: config.store.synchronous,
    maxSizeBytes: config.store.maxSizeMb === undefined ? undefined : config.store.maxSizeMb * 1024 * 1024,
    defaultTopic: topics.events(config.kiosk.id),
    personalEventTypes: PERSONAL_EVENT_TYPES,
    log: log.child({ room: 'store' }),
  });
  store.on((event) => {
    if (event.kind === 'health')
      bus.emit('store.health', { ...event.health, acceptsNewSessions: store.acceptsNewSessions });
  });

  const { drivers, disabled } = createDevices(config, log, bus, extras.gpioBackend);
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
  const fleet: FleetService = new FleetService({
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
      manifestResync: resync.lastSummary ?? null,
      // what the parts use now (live settings), and what waits for a restart at idle
      effective: { ...liveConfig.effective(), telemetryIntervalMs: telemetry.intervalMs },
      restartPending: restartAtIdle.pending,
    }),
    setLogLevel,
    resyncManifest: (tx, by) => resync.request(tx, by),
    bootConfig: config,
    onConfigChange: (change) => liveConfig.apply(change),
    linkConnected: () => linkHolder.link?.connected ?? false,
    updateSoftware: (order, tx, afterCommit) => software.accept(order, tx, afterCommit),
  });
  // The vault: manifest secrets are sealed to this kiosk's X25519 key (made at first start).
  const identity = loadOrCreateSealingIdentity(sealingIdentityPath(config.dataDir));
  const vault = new Vault(
    store,
    identity,
    Date.now,
    manifestTransport(config.kiosk.id, config.fleet.registrySealingKey),
  );
  const resync = new ManifestResync({
    vault,
    identity,
    transport: manifestTransport(config.kiosk.id, config.fleet.registrySealingKey),
    log: log.child({ room: 'vault' }),
  });
  const inbound = kioskInbound(vault, resync, log.child({ room: 'vault' }));

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
      ...fleet.statusFields(),
    }),
    store,
    window: config.store.outboxWindow,
    requestTimeoutMs: config.timeouts.requestMs,
    inbound: { ...inbound, ...fleet.inbound },
    subscriptions: fleet.subscriptions,
  });
  const sessionDevices = withMoveJournal(sessionDevicesOf(config, drivers), store);
  // one trust for the pickup and the vault load: pinned CSCAs plus pushed master lists and CRLs
  const cardTrust = loadCardTrustFailClosed(config, log);
  const fingerGuard = new FingerGuard(store, fingerGuardOptions(config));
  const sessions = new SessionOrchestrator({
    kiosk: config.kiosk,
    settings: {
      timeouts: {
        idleMs: config.timeouts.sessionIdleMs,
        fingerAttemptMs: config.timeouts.fingerAttemptMs,
        trayTakeMs: config.timeouts.trayTakeMs,
        resultMs: config.sessions.resultMs,
      },
      maxFingerAttempts: config.sessions.fingerAttempts,
      identifyRateLimit: config.sessions.identifyRateLimit,
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
    fingerGuard,
    store,
    identity,
    sealUpdate: updateSealer(config.kiosk.id, identity.privateKey, config.fleet.registrySealingKey),
    trustAnchors: cardTrust.trustAnchors,
    trustList: cardTrust.trustList,
    accessPolicy: config.card.accessPolicy,
    request: (op, type, body, expected, timeoutMs) => link.request(op, type, body, expected, timeoutMs),
    requestTimeoutMs: config.timeouts.requestMs,
    bus,
    log: log.child({ room: 'sessions' }),
  });
  linkHolder.link = link;
  const liveConfig: LiveConfig = new LiveConfig(
    { sessions, fingerGuard, link, devices, logLevel: { get: () => log.level, set: setLogLevel } },
    log.child({ room: 'config' }),
  );
  const software: RuntimeUpdate = new RuntimeUpdate({
    settings: config.update,
    stateDir: config.dataDir,
    store,
    sessions,
    bus,
    log: log.child({ room: 'update' }),
  });
  const installedRelease = new InstalledReleaseWatch({
    installRoot: config.update.installRoot,
    running: version,
    sessions,
    bus,
    log: log.child({ room: 'update' }),
  });
  const restartAtIdle: RestartAtIdle = new RestartAtIdle({
    sessions,
    bus,
    log: log.child({ room: 'config' }),
  });
  bus.on('main', 'device.health', () => void link.publishStatus());
  bus.on('main', 'fleet.lock', () => void link.publishStatus());
  bus.on('main', 'config.applied', () => void link.publishStatus());
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
    speech: config.ui.speech,
    log: log.child({ room: 'ui' }),
    status: (): UiStatus => ({ kioskId: config.kiosk.id, version, startedAt, parts: lifecycle.health() }),
    sessions,
    hostNames: config.ui.hostNames,
    ...(extras.demo ? { demo: extras.demo } : {}),
  });
  const telemetry = kioskTelemetry({
    kioskId: config.kiosk.id,
    intervalMs: config.mqtt.telemetryIntervalMs,
    version,
    store,
    fleet,
    link,
    bus,
    log: log.child({ room: 'telemetry' }),
    health: () => lifecycle.health(),
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
    [store, devices, fleet, link, vault, sessions, ...guard, ui, telemetry],
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
    software,
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
        trust: cardTrust,
        accessPolicy: config.card.accessPolicy,
        log: log.child({ room: 'vault' }),
      });
    },
    start: async () => {
      await lifecycle.start();
      // not awaited: reporting rollbacks and resuming an order never delays READY=1 (it logs its own failures)
      void software.start();
      await installedRelease.start();
    },
    stop: async () => {
      clearTimeout(statusRefresh);
      software.stop();
      installedRelease.stop();
      restartAtIdle.stop();
      await lifecycle.stop();
      bus.off('main');
    },
    health: () => lifecycle.health(),
  };
}

export async function runKiosk(config: KioskConfig): Promise<void> {
  process.umask(0o077); // whatever the shell's umask: files the runtime creates are its user's only
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty });
  // the pushed settings the runtime is built from live in the store: a corrupt one goes aside first
  await recoverStoreFile(storeFile(config), log.child({ room: 'store' }));
  // which configuration runs (the one on probation, or the last good one) is chosen before the link exists
  const runtime = createKioskRuntime(await chooseBootConfig(config, log), log, { fileConfig: config });
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
    log.warn({ by }, by === 'config' ? 'restart for pushed settings' : 'restart requested by operations');
    void notifier
      .stopping()
      .then(() => runtime.stop())
      .finally(() => process.exit(EXIT_RESTART_REQUESTED));
  });
  await runtime.start();
  await notifier.ready(`kiosk ${config.kiosk.id} running`);
  // a software release on probation (issue 14) is judged like pushed configuration; the verdict is
  // left in dataDir for deploy/release-guard.sh, which switches `current` back before the next start
  await watchReleaseProbation({
    installRoot: config.update.installRoot,
    stateDir: config.dataDir,
    inputs: runtime.fleet.healthInputs(),
    passAfterMs: config.update.probationMinutes * 60_000,
    onPass: (version) => {
      log.info({ version }, 'release on probation marked good');
      void runtime.software.releaseKept(version);
    },
    onRevert: (cause) => {
      log.error({ cause }, 'release on probation failed: rolled back at the restart');
      void notifier
        .stopping()
        .then(() => runtime.stop())
        .finally(() => process.exit(EXIT_RESTART_REQUESTED));
    },
  }).catch((error: unknown) => log.warn({ err: String(error) }, 'release probation not watched'));
  log.info(
    { kioskId: config.kiosk.id, ui: runtime.ui.url, version: runtimeVersion() },
    'kiosk runtime ready',
  );
}

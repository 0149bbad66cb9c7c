/**
 * Live configuration: a pushed setting marked live in the schema (`restart: false`) is handed to
 * the part of the running kiosk that uses it, and the fleet room acknowledges the config as
 * applied only once every part took it. The table below is the one place that says which part
 * takes which setting; test/unit/runtime/live-config.test.ts checks that every live setting of the
 * schema has its applier here, so a setting cannot be marked live without reaching anything.
 *
 * What "took it" means per part: sessions use the new timeouts, attempts and limits from their
 * next step; the log level is set on the root logger and its children; the link reconnects with a
 * new keepalive or TLS identity; a serial device closes and reopens at its new path or speed, once
 * no citizen session is in progress. A part that cannot take its setting (e.g. a TLS file that is
 * missing) leaves it to the restart: the kiosk restarts at idle and builds that part from the
 * stored configuration.
 */
import type { KioskConfig } from '../config/index.js';
import { requiresRestart } from '../fleet/index.js';
import type { DeviceManager } from '../kiosk/device-manager.js';
import type { FingerGuard } from '../kiosk/finger-guard.js';
import type { SessionOrchestrator, SessionTuning } from '../kiosk/session.js';
import type { KioskLink, LinkTuning } from '../link/link.js';
import type { Logger } from '../util/log.js';
import { whenIdle } from './restart.js';

/** What live configuration reaches in the running kiosk (main.ts hands them over). */
export interface LiveParts {
  sessions: Pick<SessionOrchestrator, 'tuning' | 'retune' | 'idle' | 'subscribe'>;
  fingerGuard: Pick<FingerGuard, 'lockAfter'>;
  link: Pick<KioskLink, 'tuning' | 'retune'>;
  devices: Pick<DeviceManager, 'reopen' | 'serialParams' | 'setProbeInterval' | 'probeIntervalMs'>;
  /** the root logger's level: read, and set on it and every child */
  logLevel: { get(): string; set(level: string): void };
}

/** What sessions run with, from a configuration (the runtime's start and every live change). */
export function sessionTuningOf(config: KioskConfig): SessionTuning {
  const { timeouts, sessions, card } = config;
  return {
    timeouts: {
      idleMs: timeouts.sessionIdleMs,
      fingerAttemptMs: timeouts.fingerAttemptMs,
      trayTakeMs: timeouts.trayTakeMs,
      resultMs: sessions.resultMs,
    },
    maxFingerAttempts: sessions.fingerAttempts,
    identifyRateLimit: { ...sessions.identifyRateLimit },
    requestTimeoutMs: timeouts.requestMs,
    accessPolicy: card.accessPolicy,
  };
}

/** What the link runs with, from a configuration. */
export function linkTuningOf(config: KioskConfig): LinkTuning {
  const { mqtt, timeouts } = config;
  return {
    keepaliveSeconds: mqtt.keepaliveSeconds,
    tls: mqtt.tls,
    reconnect: { ...mqtt.reconnect },
    requestTimeoutMs: timeouts.requestMs,
  };
}

/** The serial devices whose path and speed are live (each reopens). */
export const SERIAL_DEVICES = ['scanner', 'fingerprint', 'printer', 'dispenser'] as const;

interface LiveApplier {
  /** the part of the kiosk that takes these settings */
  part: string;
  /** dotted setting paths (a path also covers everything below it) */
  settings: readonly string[];
  apply(config: KioskConfig, parts: LiveParts): void | Promise<void>;
}

/** Which part takes which live setting. */
export const LIVE_APPLIERS: readonly LiveApplier[] = [
  {
    part: 'sessions',
    settings: [
      'timeouts.sessionIdleMs',
      'timeouts.fingerAttemptMs',
      'timeouts.trayTakeMs',
      'timeouts.requestMs',
      'sessions.fingerAttempts',
      'sessions.identifyRateLimit',
      'sessions.resultMs',
      'card.accessPolicy',
    ],
    apply: (config, parts) => parts.sessions.retune(sessionTuningOf(config)),
  },
  {
    part: 'finger guard',
    settings: ['sessions.fingerLockAfter'],
    apply: (config, parts) => {
      parts.fingerGuard.lockAfter = config.sessions.fingerLockAfter;
    },
  },
  {
    part: 'log',
    settings: ['log.level'],
    apply: (config, parts) => parts.logLevel.set(config.log.level),
  },
  {
    part: 'link',
    settings: ['mqtt.keepaliveSeconds', 'mqtt.tls', 'mqtt.reconnect', 'timeouts.requestMs'],
    apply: (config, parts) => parts.link.retune(linkTuningOf(config)),
  },
  {
    part: 'device probes',
    settings: ['devices.probeIntervalMs'],
    apply: (config, parts) => parts.devices.setProbeInterval(config.devices.probeIntervalMs),
  },
  {
    part: 'serial devices',
    settings: SERIAL_DEVICES.flatMap((name) => [`devices.${name}.path`, `devices.${name}.baudRate`]),
    apply: async (config, parts) => {
      // a device is never closed under a citizen: the reopen waits for the session to end
      await whenIdle(parts.sessions);
      for (const name of SERIAL_DEVICES) {
        const device = config.devices[name];
        if (device?.enabled)
          await parts.devices.reopen(name, { path: device.path, baudRate: device.baudRate });
      }
    },
  },
];

function covers(applier: LiveApplier, path: string): boolean {
  return applier.settings.some((setting) => path === setting || path.startsWith(`${setting}.`));
}

/** The appliers that take a changed setting (none for a restart-required one). */
export function appliersOf(path: string): LiveApplier[] {
  return LIVE_APPLIERS.filter((applier) => covers(applier, path));
}

export interface LiveChange {
  /** the configuration now in force */
  config: KioskConfig;
  /** dotted paths of the settings that changed */
  changed: readonly string[];
}

export class LiveConfig {
  /** changes are applied one after another, in the order they were decided */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly parts: LiveParts,
    private readonly log: Logger,
  ) {}

  /**
   * Hands each changed live setting to its part; resolves once all took theirs, with the settings
   * a part could not take (they wait for the restart like restart-required ones).
   */
  apply(change: LiveChange): Promise<{ notTaken: string[] }> {
    const run = this.queue.then(() => this.applyNow(change));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow({ config, changed }: LiveChange): Promise<{ notTaken: string[] }> {
    const live = changed.filter((path) => !requiresRestart(path));
    const appliers = LIVE_APPLIERS.filter((applier) => live.some((path) => covers(applier, path)));
    const notTaken: string[] = [];
    for (const applier of appliers) {
      try {
        await applier.apply(config, this.parts);
      } catch (error) {
        const settings = live.filter((path) => covers(applier, path));
        notTaken.push(...settings);
        this.log.error(
          { part: applier.part, settings, err: (error as Error).message },
          'live config: a part could not take its settings; they take effect at the restart',
        );
      }
    }
    if (appliers.length > 0)
      this.log.info(
        { parts: appliers.map((applier) => applier.part), settings: live },
        'live config applied',
      );
    return { notTaken: [...new Set(notTaken)] };
  }

  /**
   * The live settings as the parts that use them hold them now (not the fleet room's copy): for
   * `collect-diagnostics`, so operations (and tests) see what is in effect.
   */
  effective(): Record<string, unknown> {
    const { sessions, fingerGuard, link, devices, logLevel } = this.parts;
    return {
      sessions: { ...sessions.tuning, fingerLockAfter: fingerGuard.lockAfter },
      logLevel: logLevel.get(),
      link: link.tuning,
      devices: {
        probeIntervalMs: devices.probeIntervalMs,
        ...Object.fromEntries(
          SERIAL_DEVICES.flatMap((name) => {
            const params = devices.serialParams(name);
            return params ? [[name, params]] : [];
          }),
        ),
      },
    };
  }
}

/**
 * The kiosk side of central operations (DESIGN.md "Security model"): signed configuration from
 * `fleet/config` and `kiosk/{id}/config`, and signed commands on `kiosk/{id}/cmd`.
 *
 * Configuration: refused when unsigned, wrongly signed, expired, for another kiosk or not newer
 * than the last one of its source (versions only move forward, remembered in the store); otherwise
 * validated by the one config schema, applied, watched for `rollbackAfterMs` and rolled back if the
 * kiosk turns unhealthy. Every outcome is a `config.result` event in the outbox.
 *
 * Commands arrive through the link's inbound router (the inbox dedupes by message id); their
 * nonces are remembered here until they expire, so a re-signed copy cannot run twice either.
 * Effects that live in other rooms travel on the bus.
 */
import type { KioskConfig } from '../config/schema.js';
import type { InboundHandlers } from '../link/inbound.js';
import {
  decodeMessage,
  type Envelope,
  envelope,
  InvalidMessage,
  type MessageBody,
  type RefusalReason,
} from '../link/messages.js';
import { parseKioskTopic, topics } from '../link/topics.js';
import type { Store, Transaction } from '../store/index.js';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import {
  changedPaths,
  effectiveConfig,
  InvalidSettings,
  requiresRestart,
  type Settings,
} from './settings.js';
import { pinKeys, type PinnedKeys, SignatureRefused, verifyEnvelope } from './signing.js';

/** Commands may not be valid further ahead than this: it bounds how long nonces are kept. */
export const MAX_COMMAND_LIFETIME_MS = 24 * 3600_000;
/** Upper bound of the diagnostics bundle (JSON bytes): it travels in one MQTT message. */
export const MAX_DIAGNOSTICS_BYTES = 16 * 1024;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

type ConfigSource = 'fleet' | 'kiosk';
type CommandMessage = Envelope<MessageBody<'command.request'>>;
type CommandResult = MessageBody<'command.result'>;

export interface KioskHealthVerdict {
  healthy: boolean;
  /** short, PII-free reason when unhealthy */
  detail?: string;
}

export interface FleetServiceOptions {
  kioskId: string;
  /** the configuration from the file (and env), onto which pushed settings are layered */
  baseConfig: KioskConfig;
  store: Store;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  /** publishes a `command.result` now (the link); rejects while offline */
  publish: (topic: string, message: Envelope) => Promise<void>;
  /** the kiosk's health as the lifecycle and device manager see it */
  health: () => KioskHealthVerdict;
  /** a bounded, PII-free picture of the kiosk for `collect-diagnostics` */
  diagnostics: () => Record<string, unknown>;
  /** changes the runtime's log level (the root logger) */
  setLogLevel: (level: LogLevel) => void;
  now?: () => number;
  /** how often the kiosk's health is checked after applying config (default rollbackAfterMs / 20, ≥ 50 ms) */
  healthPollMs?: number;
}

interface AppliedConfig {
  version: number;
  configId: string;
  settings: Settings;
}

interface Watch {
  source: ConfigSource;
  previous: AppliedConfig | undefined;
  applied: AppliedConfig;
  timer: NodeJS.Timeout;
  until: number;
}

class Refused extends Error {
  override readonly name = 'Refused';
  constructor(
    readonly reason: RefusalReason,
    readonly detail?: string,
  ) {
    super(detail ? `${reason}: ${detail}` : reason);
  }
}

export class FleetService implements Service {
  readonly name = 'fleet';
  private readonly keys: PinnedKeys;
  private readonly applied: Partial<Record<ConfigSource, AppliedConfig>> = {};
  /** highest version seen per source, applied or rolled back: versions only move forward */
  private readonly versions: Record<ConfigSource, number> = { fleet: 0, kiosk: 0 };
  private watch: Watch | undefined;
  /** id of the last config message decided on per source (a retained redelivery is not news) */
  private readonly lastDecided: Partial<Record<ConfigSource, string>> = {};
  private locked = false;
  private effective: KioskConfig;
  private started = false;
  /** config messages are handled one at a time, in arrival order */
  private configQueue: Promise<void> = Promise.resolve();
  readonly counts = { configApplied: 0, configRefused: 0, rolledBack: 0, commandsRun: 0, commandsRefused: 0 };

  constructor(private readonly options: FleetServiceOptions) {
    this.keys = pinKeys(options.baseConfig.fleet.opsPublicKeys);
    this.effective = options.baseConfig;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** The configuration in force: the file's with the applied pushed settings on top. */
  get config(): KioskConfig {
    return this.effective;
  }

  get isLocked(): boolean {
    return this.locked;
  }

  /** Subscriptions the link makes for pushed configuration (retained, QoS 1). */
  get subscriptions(): { topic: string; handle: (payload: Buffer, topic: string) => Promise<void> }[] {
    const handle = (payload: Buffer, topic: string) => this.onConfig(payload, topic);
    return [
      { topic: topics.fleetConfig(), handle },
      { topic: topics.config(this.options.kioskId), handle },
    ];
  }

  /** Handlers for the link's inbound router (commands). */
  get inbound(): Pick<InboundHandlers, 'command' | 'commandNotApplied'> {
    return {
      command: (message, tx) => this.onCommand(message, tx),
      commandNotApplied: (message, reason) => this.answer(message, this.refusal(message, reason)),
    };
  }

  async start(): Promise<void> {
    await this.options.store.transaction(async (tx) => {
      await tx.run(
        'CREATE TABLE IF NOT EXISTS fleet_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID',
      );
      await tx.run(
        'CREATE TABLE IF NOT EXISTS fleet_nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID',
      );
      const rows = await tx.all<{ key: string; value: string }>('SELECT key, value FROM fleet_state');
      for (const row of rows) {
        const value: unknown = JSON.parse(row.value);
        if (row.key === 'locked') this.locked = value === true;
        if (row.key === 'version.fleet' || row.key === 'version.kiosk')
          this.versions[row.key.slice(8) as ConfigSource] = Number(value);
        if (row.key === 'applied.fleet' || row.key === 'applied.kiosk')
          this.applied[row.key.slice(8) as ConfigSource] = value as AppliedConfig;
      }
    });
    try {
      this.effective = this.layered(this.applied);
    } catch (error) {
      if (!(error instanceof InvalidSettings)) throw error;
      // the file changed under a stored push so that they no longer fit together: the file wins
      this.options.log.warn(
        { detail: error.message },
        'fleet: stored pushed settings no longer valid; ignored',
      );
    }
    this.started = true;
    if (this.locked) this.options.bus.emit('fleet.lock', { locked: true, by: 'stored state' });
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.watch) clearTimeout(this.watch.timer);
    this.watch = undefined;
    await this.configQueue;
  }

  health(): Health {
    if (!this.started) return { state: 'stopped' };
    return {
      state: 'up',
      detail: `config v${this.versions.fleet}/${this.versions.kiosk}${this.locked ? ', locked' : ''}${this.watch ? ', watching' : ''}`,
    };
  }

  /** Applied config versions, for the status and diagnostics. */
  get configVersions(): Record<ConfigSource, number> {
    return { ...this.versions };
  }

  private layered(applied: Partial<Record<ConfigSource, AppliedConfig>>): KioskConfig {
    const layers = [applied.fleet?.settings, applied.kiosk?.settings].filter(
      (layer): layer is Settings => layer !== undefined,
    );
    return effectiveConfig(this.options.baseConfig, layers);
  }

  // ---- configuration -------------------------------------------------------------------------

  private onConfig(payload: Buffer, topic: string): Promise<void> {
    const run = this.configQueue.then(() => this.handleConfig(payload, topic));
    this.configQueue = run.catch(() => undefined);
    return run;
  }

  private async handleConfig(payload: Buffer, topic: string): Promise<void> {
    if (!this.started) return;
    const source: ConfigSource = topic === topics.fleetConfig() ? 'fleet' : 'kiosk';
    let message: Envelope<MessageBody<'config.push'>>;
    try {
      message = decodeMessage(payload, 'config.push');
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn({ source, reason: error.reason }, 'fleet: invalid config message rejected');
      return;
    }
    const { version } = message.body;
    // the retained config comes again on every connect: one already decided on is not news
    if (this.applied[source]?.configId === message.id || this.lastDecided[source] === message.id) return;
    this.lastDecided[source] = message.id;
    try {
      this.checkConfig(message, source, topic);
      // the store's inbox remembers every config id seen: a replayed message is told from a downgrade
      const fresh = await this.options.store.transaction((tx) => tx.markApplied(message.id, 'config.push'));
      if (!fresh) throw new Refused('replayed');
      if (version <= this.versions[source])
        throw new Refused('not-newer', `version ${version} ≤ ${this.versions[source]}`);
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      await this.reportConfig(
        { version, configId: message.id, status: 'refused', reason: error.reason, detail: error.detail },
        'warn',
      );
      return;
    }
    const before = this.effective;
    const candidate: AppliedConfig = { version, configId: message.id, settings: message.body.settings };
    let after: KioskConfig;
    try {
      after = this.layered({ ...this.applied, [source]: candidate });
    } catch (error) {
      if (!(error instanceof InvalidSettings)) throw error;
      await this.reportConfig(
        { version, configId: message.id, status: 'refused', reason: 'invalid', detail: error.message },
        'warn',
      );
      return;
    }
    const changed = changedPaths(before, after);
    const restartRequired = changed.filter((path) => requiresRestart(path));
    const previous = this.applied[source];
    const wasHealthy = this.options.health().healthy;
    await this.options.store.transaction(async (tx) => {
      await this.saveState(tx, `version.${source}`, version);
      await this.saveState(tx, `applied.${source}`, candidate);
      await tx.audit(`ops:${message.keyId ?? '?'}`, 'config.applied', { source, version, changed });
      tx.emit({
        type: 'config.result',
        body: {
          version,
          configId: message.id,
          status: 'applied',
          ...(restartRequired.length > 0 ? { restartRequired: restartRequired.slice(0, 100) } : {}),
        },
      });
    });
    this.versions[source] = version;
    this.applied[source] = candidate;
    this.effective = after;
    this.counts.configApplied++;
    this.options.log.info(
      { source, version, changed: changed.length, restartRequired },
      'fleet: config applied',
    );
    this.options.bus.emit('config.applied', { version, settings: candidate.settings, restartRequired });
    if (wasHealthy) this.watchHealth(source, previous, candidate);
    else
      this.options.log.warn({ version }, 'fleet: kiosk was unhealthy before this config; no rollback watch');
  }

  private checkConfig(
    message: Envelope<MessageBody<'config.push'>>,
    source: ConfigSource,
    topic: string,
  ): void {
    this.checkSignedAndCurrent(message);
    const target = message.body.kioskId;
    if (source === 'kiosk' && parseKioskTopic(topic)?.kioskId !== this.options.kioskId)
      throw new Refused('other-kiosk');
    if (target !== undefined && target !== this.options.kioskId) throw new Refused('other-kiosk');
    if (source === 'kiosk' && target === undefined)
      throw new Refused('invalid', 'a kiosk config must name its kiosk');
  }

  private watchHealth(
    source: ConfigSource,
    previous: AppliedConfig | undefined,
    applied: AppliedConfig,
  ): void {
    if (this.watch) clearTimeout(this.watch.timer);
    const windowMs = this.effective.fleet.rollbackAfterMs;
    const pollMs = this.options.healthPollMs ?? Math.max(50, Math.floor(windowMs / 20));
    const until = this.now() + windowMs;
    const check = () => {
      const watch = this.watch;
      if (!watch || !this.started) return;
      const verdict = this.options.health();
      if (!verdict.healthy) {
        this.watch = undefined;
        const run = this.configQueue.then(() => this.rollBack(watch, verdict.detail));
        this.configQueue = run.catch((error: unknown) =>
          this.options.log.error({ err: error }, 'fleet: rollback failed'),
        );
        return;
      }
      if (this.now() >= watch.until) {
        this.watch = undefined;
        this.options.log.info({ version: applied.version }, 'fleet: config kept (kiosk stayed healthy)');
        return;
      }
      watch.timer = setTimeout(check, pollMs);
    };
    this.watch = { source, previous, applied, until, timer: setTimeout(check, pollMs) };
  }

  private async rollBack(watch: Watch, detail: string | undefined): Promise<void> {
    const { source, previous, applied } = watch;
    if (this.applied[source]?.configId !== applied.configId) return; // superseded meanwhile
    const restored = { ...this.applied, [source]: previous };
    const after = this.layered(restored);
    const restartRequired = changedPaths(this.effective, after).filter((path) => requiresRestart(path));
    await this.options.store.transaction(async (tx) => {
      if (previous) await this.saveState(tx, `applied.${source}`, previous);
      else await tx.run('DELETE FROM fleet_state WHERE key = ?', [`applied.${source}`]);
      await tx.audit('fleet', 'config.rolledBack', { source, version: applied.version });
      tx.emit({
        type: 'config.result',
        body: {
          version: applied.version,
          configId: applied.configId,
          status: 'rolled-back',
          reason: 'unhealthy',
          ...(detail ? { detail: detail.slice(0, 500) } : {}),
          ...(restartRequired.length > 0 ? { restartRequired: restartRequired.slice(0, 100) } : {}),
        },
      });
    });
    if (previous) this.applied[source] = previous;
    else delete this.applied[source];
    this.effective = after;
    this.counts.rolledBack++;
    this.options.log.warn(
      { source, version: applied.version, detail },
      'fleet: config rolled back: kiosk unhealthy',
    );
    this.options.bus.emit('config.applied', {
      version: previous?.version ?? 0,
      settings: previous?.settings ?? {},
      restartRequired,
    });
  }

  private async reportConfig(body: MessageBody<'config.result'>, level: 'warn' | 'info'): Promise<void> {
    this.counts.configRefused++;
    this.options.log[level](
      { version: body.version, reason: body.reason, detail: body.detail },
      'fleet: config refused',
    );
    await this.options.store.transaction(async (tx) => {
      await tx.audit('fleet', 'config.refused', { version: body.version, reason: body.reason });
      tx.emit({ type: 'config.result', body });
    });
  }

  private async saveState(tx: Transaction, key: string, value: unknown): Promise<void> {
    await tx.run(
      'INSERT INTO fleet_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, JSON.stringify(value)],
    );
  }

  // ---- commands --------------------------------------------------------------------------------

  private refusal(message: CommandMessage, reason: RefusalReason, detail?: string): CommandResult {
    this.counts.commandsRefused++;
    this.options.log.warn({ command: message.body.name, reason, detail }, 'fleet: command refused');
    return { name: message.body.name, status: 'refused', reason, ...(detail ? { detail } : {}) };
  }

  /** Runs inside the inbox transaction that records the command's id as applied. */
  private async onCommand(message: CommandMessage, tx: Transaction): Promise<void> {
    let result: CommandResult;
    try {
      this.checkCommand(message);
      const expiresAt = Date.parse(message.expiresAt ?? '');
      await tx.run('DELETE FROM fleet_nonces WHERE expires_at < ?', [this.now()]);
      const fresh = await tx.run('INSERT OR IGNORE INTO fleet_nonces (nonce, expires_at) VALUES (?, ?)', [
        message.body.nonce,
        expiresAt,
      ]);
      if (fresh.changes !== 1) throw new Refused('replayed', 'nonce already used');
      await tx.audit(`ops:${message.keyId ?? '?'}`, `command.${message.body.name}`);
      result = await this.run(message, tx);
      this.counts.commandsRun++;
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      result = this.refusal(message, error.reason, error.detail);
    }
    void this.answer(message, result);
    if (result.status === 'ok' && message.body.name === 'restart')
      // after the answer is out and this transaction has committed: stopping waits for the store
      setTimeout(() => this.options.bus.emit('fleet.restart', { by: `ops:${message.keyId ?? '?'}` }), 50);
  }

  /** Signed by a pinned key and not expired (every operations message must carry `expiresAt`). */
  private checkSignedAndCurrent(message: Envelope): number {
    try {
      verifyEnvelope(message, this.keys);
    } catch (error) {
      if (error instanceof SignatureRefused) throw new Refused(error.reason);
      throw error;
    }
    if (!message.expiresAt) throw new Refused('invalid', `${message.type} without expiresAt`);
    const expiresAt = Date.parse(message.expiresAt);
    if (expiresAt <= this.now()) throw new Refused('expired');
    return expiresAt;
  }

  private checkCommand(message: CommandMessage): void {
    const expiresAt = this.checkSignedAndCurrent(message);
    if (expiresAt > this.now() + MAX_COMMAND_LIFETIME_MS)
      throw new Refused('invalid', `expiresAt more than ${MAX_COMMAND_LIFETIME_MS / 3600_000} h ahead`);
  }

  /** The operations table of commands (STYLE.md practice 6). */
  private async run(message: CommandMessage, tx: Transaction): Promise<CommandResult> {
    const { name, args } = message.body;
    const by = `ops:${message.keyId ?? '?'}`;
    const ok = (data?: Record<string, unknown>): CommandResult => ({
      name,
      status: 'ok',
      ...(data ? { data } : {}),
    });
    switch (name) {
      case 'lock':
      case 'unlock': {
        this.locked = name === 'lock';
        await this.saveState(tx, 'locked', this.locked);
        this.options.bus.emit('fleet.lock', { locked: this.locked, by });
        return ok({ locked: this.locked });
      }
      case 'restart':
        return ok({ restartingInMs: 50 });
      case 'purge-sessions':
        this.options.bus.emit('fleet.purgeSessions', { by });
        return ok();
      case 'resync-manifest':
        this.options.bus.emit('fleet.resyncManifest', { by });
        return ok();
      case 'collect-diagnostics':
        return ok(this.diagnosticsBundle());
      case 'set-log-level': {
        const level = args?.level;
        if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level))
          throw new Refused('invalid', `args.level must be one of ${LOG_LEVELS.join(', ')}`);
        this.options.setLogLevel(level as LogLevel);
        return ok({ level });
      }
      default:
        throw new Refused('unknown-command', name);
    }
  }

  private diagnosticsBundle(): Record<string, unknown> {
    const bundle = {
      ...this.options.diagnostics(),
      fleet: { configVersions: this.configVersions, locked: this.locked, counts: { ...this.counts } },
    };
    const size = Buffer.byteLength(JSON.stringify(bundle));
    if (size <= MAX_DIAGNOSTICS_BYTES) return bundle;
    return { truncated: true, bytes: size, fleet: bundle.fleet };
  }

  private answer(message: CommandMessage, body: CommandResult): Promise<void> {
    const reply = envelope('command.result', this.options.kioskId, body, {
      ...(message.correlationId ? { correlationId: message.correlationId } : { correlationId: message.id }),
    });
    // Not awaited: mqtt.js handles incoming packets one at a time, so the PUBACK of this answer
    // cannot arrive while the command's own message is still being handled.
    this.options
      .publish(topics.cmdResult(this.options.kioskId), reply)
      .catch((error: unknown) =>
        this.options.log.warn(
          { err: (error as Error).message, command: body.name },
          'fleet: command result not sent',
        ),
      );
    return Promise.resolve();
  }
}

/**
 * The kiosk side of central operations (DESIGN.md "Security model"): signed configuration from
 * `fleet/config` and `kiosk/{id}/config`, and signed commands on `kiosk/{id}/cmd`.
 *
 * Configuration: refused when unsigned, wrongly signed, expired, for another kiosk or not newer
 * than the last one of its source (versions only move forward, remembered in the store); otherwise
 * validated by the one config schema, applied, and put on probation (config-probation.ts): kept
 * once the kiosk has been healthy and connected for `rollbackAfterMs`, reverted to the last good
 * configuration on a crash loop, a broker that stays unreachable or a part that stays down — across
 * restarts. Every outcome is a `config.result` event in the outbox.
 *
 * Commands, manifest entries and update statuses arrive through the link's inbound router, which
 * asks this room's guard (the MessageGate, gate.ts) before anything is stored. Every refusal of an
 * unverified message is only counted (RefusalLedger: one `security.refused` summary per window).
 * Effects that live in other rooms travel on the bus.
 *
 * Security state survives a wiped store: versions, lock and the store's id are mirrored in a file
 * beside the keys (state-file.ts). A store that is not the one the file names is reported
 * (`fault.storage` store-replaced), and the kiosk stays out of service until operations send
 * `reassert-state`; configs that arrive meanwhile wait for it.
 */
import type { KioskConfig } from '../config/schema.js';
import type { AfterCommit, InboundGuard, InboundHandlers, InboundMessage } from '../link/inbound.js';
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
  valueAt,
} from './settings.js';
import { GateRefused, MAX_LIFETIME_MS, MessageGate, rememberNonce } from './gate.js';
import { RefusalLedger } from './refusals.js';
import { configProbationLedger, layersBeyond } from './config-probation.js';
import type { AppliedConfig, AppliedLayers } from './persisted.js';
import {
  type HealthInput,
  type ProbationLedger,
  ProbationWatch,
  type Reverted,
  type Verdict,
} from './probation.js';
import { pinKeys } from './signing.js';
import {
  newSecurityState,
  readSecurityState,
  type SecurityState,
  securityStatePath,
  writeSecurityState,
} from './state-file.js';

/** Commands may not be valid further ahead than this: it bounds how long nonces are kept. */
export const MAX_COMMAND_LIFETIME_MS = MAX_LIFETIME_MS['command.request'];
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
  /**
   * `resync-manifest`: records the request and queues it for the registry in `tx` (the vault's
   * ManifestResync); absent: the command is refused
   */
  resyncManifest?: (tx: Transaction, by: string) => Promise<{ requestId: string } | { refused: string }>;
  /** changes the runtime's log level (the root logger) */
  setLogLevel: (level: LogLevel) => void;
  /** whether the link is connected to the broker: a health input of a config on probation */
  linkConnected?: () => boolean;
  /**
   * The configuration this runtime was built with (the file's with the pushed settings stored at
   * start: `withPushedSettings`); settings read once at start come from it. Default: baseConfig.
   */
  bootConfig?: KioskConfig;
  /**
   * Hands a committed change to the running kiosk (runtime/live-config.ts); resolves once the
   * parts took their live settings, with those they could not take (they wait for the restart).
   * The config is acknowledged `applied` only then.
   */
  onConfigChange?: (change: ConfigChange) => Promise<{ notTaken: string[] }>;
  /**
   * `update-software` (issue 14): records the order in `tx` (src/update/runtime-update.ts) and
   * schedules its staging with `afterCommit`; absent: the command is refused
   */
  updateSoftware?: (
    order: { orderId: string; version: string; by: string },
    tx: Transaction,
    afterCommit: AfterCommit,
  ) => Promise<Record<string, unknown>>;
  now?: () => number;
  /** how often a config on probation is judged (default rollbackAfterMs / 20, 50 ms to 1 s) */
  healthPollMs?: number;
}

/** A change of the configuration in force, as the fleet room decided it. */
export interface ConfigChange {
  config: KioskConfig;
  changed: string[];
}

/** A decided config not yet acknowledged as in effect (kept in fleet_state until it is). */
interface PendingAck {
  version: number;
  configId: string;
  restartRequired: string[];
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
  private readonly gate: MessageGate;
  readonly refusals: RefusalLedger;
  private readonly stateFile: string;
  private security: SecurityState = newSecurityState();
  /** configs that arrived while the store was lost: handled once the state is re-established */
  private readonly heldConfigs = new Map<ConfigSource, { payload: Buffer; topic: string }>();
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly applied: Partial<Record<ConfigSource, AppliedConfig>> = {};
  /** highest version seen per source, applied or rolled back: versions only move forward */
  private readonly versions: Record<ConfigSource, number> = { fleet: 0, kiosk: 0 };
  /** the last good configuration and the one on probation, kept beside the keys */
  private readonly probation: ProbationLedger<AppliedLayers>;
  private probationWatch: ProbationWatch | undefined;
  /** id of the last config message decided on per source (a retained redelivery is not news) */
  private readonly lastDecided: Partial<Record<ConfigSource, string>> = {};
  private locked = false;
  /** set while the security state file could not be written (disk full): retried every second */
  private securityFileRetry: NodeJS.Timeout | undefined;
  private effective: KioskConfig;
  /** commands whose answer the broker has, while the clearing of their kept answer commits */
  private readonly answersDelivered = new Set<string>();
  /** commands whose answer is being published (waiting for the broker's PUBACK) */
  private readonly answersSending = new Set<string>();
  /** the last answer of `restartPending`, for the config it was asked about */
  private restartPendingOf: { config: KioskConfig; paths: string[] } | undefined;
  /**
   * The last good configuration as layered for `beginProbation` (which only compares it), by the
   * JSON of its layers: while a candidate is on probation the last good stays, and validating the
   * whole config again for each newer push would be the same work with the same answer.
   */
  private lastGoodLayered: { key: string; config: KioskConfig } | undefined;
  private started = false;
  /** config messages are handled one at a time, in arrival order */
  private configQueue: Promise<void> = Promise.resolve();
  /** acknowledgements of decided configs, in the order they were decided */
  private acks: Promise<void> = Promise.resolve();
  /** settings acknowledged pending-restart since this start: in effect only after the restart */
  private readonly awaitingRestart = new Set<string>();
  readonly counts = { configApplied: 0, configRefused: 0, rolledBack: 0, commandsRun: 0, commandsRefused: 0 };

  constructor(private readonly options: FleetServiceOptions) {
    const { fleet } = options.bootConfig ?? options.baseConfig;
    this.gate = new MessageGate({
      kioskId: options.kioskId,
      keys: {
        ops: pinKeys(fleet.opsPublicKeys),
        registry: pinKeys(fleet.registrySigningKey ? [fleet.registrySigningKey] : []),
      },
      notBefore: () => this.security.notBefore,
      now: () => this.now(),
    });
    this.refusals = new RefusalLedger({
      store: options.store,
      log: options.log,
      windowMs: fleet.refusalSummaryMs,
      repliesPerWindow: fleet.refusalRepliesPerWindow,
      now: () => this.now(),
    });
    this.stateFile = securityStatePath(options.baseConfig.dataDir);
    this.effective = options.baseConfig;
    this.probation = configProbationLedger(options.baseConfig, options.log);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** The configuration in force: the file's with the applied pushed settings on top. */
  get config(): KioskConfig {
    return this.effective;
  }

  /** Locked by operations, or out of service because the store was lost. */
  get isLocked(): boolean {
    return this.locked || this.security.storeLost;
  }

  /** True while the kiosk waits for operations to re-establish its state after a lost store. */
  get storeLost(): boolean {
    return this.security.storeLost;
  }

  /** Subscriptions the link makes for pushed configuration (retained, QoS 1). */
  get subscriptions(): { topic: string; handle: (payload: Buffer, topic: string) => Promise<void> }[] {
    const handle = (payload: Buffer, topic: string) => this.onConfig(payload, topic);
    return [
      { topic: topics.fleetConfig(), handle },
      { topic: topics.config(this.options.kioskId), handle },
    ];
  }

  /** Handlers for the link's inbound router: the guard of every gated message, and commands. */
  get inbound(): Pick<InboundHandlers, 'command' | 'guard' | 'setAside'> {
    return {
      command: (message, tx, afterCommit) => this.onCommand(message, tx, afterCommit),
      guard: this.guard,
      setAside: async (message, failure, tx, afterCommit) => {
        if (message.type === 'command.request')
          await this.answerSetAside(message as CommandMessage, failure, tx, afterCommit);
      },
    };
  }

  private readonly guard: InboundGuard = {
    admit: (message) => this.admit(message),
    remember: (message, tx) => rememberNonce(tx, message, this.now()),
    refused: (leaf, reason, message, payload) => this.onRefused(leaf, reason, message, payload),
  };

  private admit(message: InboundMessage): RefusalReason | undefined {
    try {
      this.gate.check(message);
    } catch (error) {
      if (error instanceof GateRefused) return error.reason;
      throw error;
    }
    // while the store is lost only the command that re-establishes the state runs
    if (this.security.storeLost && message.type === 'command.request') {
      const name = (message.body as MessageBody<'command.request'>).name;
      if (name !== 'reassert-state' && name !== 'collect-diagnostics') return 'state-lost';
    }
    return undefined;
  }

  /** Counted (never stored one by one); a command gets a `cmd/result` while the reply budget lasts. */
  private async onRefused(
    leaf: string,
    reason: RefusalReason,
    message: InboundMessage | undefined,
    payload: Buffer,
  ): Promise<void> {
    const command = message?.type === 'command.request' ? (message as CommandMessage) : undefined;
    // a redelivery of a command that ran while its answer could not go out: the kept answer
    if (leaf === 'cmd' && reason === 'replayed' && command && (await this.answerKept(command))) return;
    this.refusals.note(reason, leaf);
    if (leaf !== 'cmd' || !this.refusals.mayReply()) return;
    const name = command?.body.name ?? '(unreadable)';
    const correlationId = command ? (command.correlationId ?? command.id) : correlationOf(payload);
    this.counts.commandsRefused++;
    await this.publishResult(
      {
        name,
        status: 'refused',
        reason,
        ...(reason === 'malformed' ? { detail: 'not a valid command' } : {}),
      },
      correlationId,
    );
  }

  async start(): Promise<void> {
    const stored = await this.options.store.transaction(async (tx) => {
      await tx.run(
        'CREATE TABLE IF NOT EXISTS fleet_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID',
      );
      return tx.all<{ key: string; value: string }>('SELECT key, value FROM fleet_state');
    });
    let storeId: string | undefined;
    const pendingAcks: Array<[ConfigSource, PendingAck]> = [];
    for (const row of stored) {
      const value: unknown = JSON.parse(row.value);
      if (row.key === 'store.id') storeId = String(value);
      if (row.key === 'locked') this.locked = value === true;
      if (row.key === 'version.fleet' || row.key === 'version.kiosk')
        this.versions[row.key.slice(8) as ConfigSource] = Number(value);
      if (row.key === 'applied.fleet' || row.key === 'applied.kiosk')
        this.applied[row.key.slice(8) as ConfigSource] = value as AppliedConfig;
      if (row.key === 'pendingAck.fleet' || row.key === 'pendingAck.kiosk')
        pendingAcks.push([row.key.slice(11) as ConfigSource, value as PendingAck]);
    }
    await this.reconcileSecurityState(storeId);
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
    // the store lost its applied layers with it: nothing to judge until operations re-establish it
    const candidate = this.security.storeLost ? undefined : await this.resumeProbation();
    await this.acknowledgeAtStart(pendingAcks);
    this.started = true;
    if (candidate) this.watchCandidate(candidate.inputs);
    this.refusals.start();
    await this.prune();
    this.pruneTimer = setInterval(
      () => void this.prune().catch(() => undefined),
      (this.options.bootConfig ?? this.options.baseConfig).store.retention.pruneEveryMs,
    );
    this.pruneTimer.unref();
    if (this.isLocked)
      this.options.bus.emit('fleet.lock', {
        locked: true,
        by: this.security.storeLost ? 'store lost' : 'stored state',
      });
  }

  /**
   * Compares the store with the security state file beside the keys. Same store: both are merged
   * upwards. No file yet: this store starts the record. Another or an empty store: the store was
   * lost — the file's versions and lock stay in force, nonces of before are unknown (messages
   * issued before now are refused), `fault.storage` is reported and the kiosk stays out of service.
   */
  private async reconcileSecurityState(storeId: string | undefined): Promise<void> {
    const recorded = readSecurityState(this.stateFile);
    if (recorded && recorded.storeId !== storeId) {
      this.security = { ...recorded, storeLost: true, notBefore: Math.max(recorded.notBefore, this.now()) };
      this.versions.fleet = recorded.versions.fleet;
      this.versions.kiosk = recorded.versions.kiosk;
      this.locked = recorded.locked;
      this.writeSecurityFile();
      // the layers probation knew went with the store: what runs now (the file's) is the last good
      this.probation.reset({});
      await this.options.store.transaction(async (tx) => {
        await tx.audit('runtime', 'store.replaced', { expected: 'security state of another store' });
        tx.emit({
          type: 'fault.storage',
          body: { fault: 'store-replaced', detail: 'store empty or replaced; waiting for operations' },
        });
      });
      this.options.log.error(
        { versions: recorded.versions, locked: recorded.locked },
        'fleet: the store is empty or replaced: out of service until operations re-establish the state',
      );
      return;
    }
    const base = recorded ?? { ...newSecurityState(), ...(storeId ? { storeId } : {}) };
    this.versions.fleet = Math.max(this.versions.fleet, base.versions.fleet);
    this.versions.kiosk = Math.max(this.versions.kiosk, base.versions.kiosk);
    this.security = base;
    if (base.storeLost) this.locked = base.locked;
    if (!storeId) await this.options.store.transaction((tx) => this.saveState(tx, 'store.id', base.storeId));
    this.persistSecurity();
  }

  /** Mirrors the in-memory security state to the file beside the keys (after the store committed). */
  private persistSecurity(): void {
    this.security = {
      ...this.security,
      versions: { ...this.versions },
      configIds: {
        ...this.security.configIds,
        ...(this.applied.fleet?.version === this.versions.fleet
          ? { fleet: this.applied.fleet.configId }
          : {}),
        ...(this.applied.kiosk?.version === this.versions.kiosk
          ? { kiosk: this.applied.kiosk.configId }
          : {}),
      },
      locked: this.locked,
    };
    this.writeSecurityFile();
  }

  /**
   * Writes the security state file. On a full disk (ENOSPC, EDQUOT) it is retried every second
   * until there is room, instead of throwing: it runs after a commit, so throwing would leave an
   * applied command unanswered, and at start it would turn a full disk into a crash loop.
   * Meanwhile the store holds the newer state, and on start the two are merged from it; a store
   * lost meanwhile leaves the kiosk out of service whatever the file says (fail closed).
   */
  private writeSecurityFile(): void {
    try {
      writeSecurityState(this.stateFile, this.security);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw error;
      if (this.securityFileRetry) return;
      this.options.log.error(
        { code },
        'fleet: security state file not written (disk full); retried until there is room',
      );
      this.securityFileRetry = setInterval(() => this.writeSecurityFile(), 1000);
      this.securityFileRetry.unref();
      return;
    }
    if (!this.securityFileRetry) return;
    clearInterval(this.securityFileRetry);
    this.securityFileRetry = undefined;
    this.options.log.info('fleet: security state file written again');
  }

  /** Retention: inbox ids, audit rows and expired nonces beyond their bounds are deleted. */
  async prune(): Promise<{ inbox: number; audit: number; nonces: number }> {
    const { inboxMs, auditMs, auditMaxRows } = (this.options.bootConfig ?? this.options.baseConfig).store
      .retention;
    const now = this.now();
    return this.options.store.transaction(async (tx) => {
      const inbox = await tx.run('DELETE FROM inbox WHERE applied_at < ?', [now - inboxMs]);
      const old = await tx.run('DELETE FROM audit WHERE at < ?', [now - auditMs]);
      const excess = await tx.run('DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?', [
        auditMaxRows,
      ]);
      const nonces = await tx.run('DELETE FROM message_nonces WHERE expires_at < ?', [now]);
      return { inbox: inbox.changes, audit: old.changes + excess.changes, nonces: nonces.changes };
    });
  }

  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.securityFileRetry);
    this.securityFileRetry = undefined;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    await this.refusals.stop().catch(() => undefined);
    this.probationWatch?.stop();
    this.probationWatch = undefined;
    await this.configQueue;
  }

  health(): Health {
    if (!this.started) return { state: 'stopped' };
    if (this.security.storeLost)
      return {
        state: 'degraded',
        detail:
          'fault.storage: store empty or replaced; out of service until operations re-establish its state',
      };
    return {
      state: 'up',
      detail: `config v${this.versions.fleet}/${this.versions.kiosk}${this.locked ? ', locked' : ''}${this.onProbation ? ', config on probation' : ''}`,
    };
  }

  /** What the retained status says of this room: config versions, lock, and why out of service. */
  statusFields(): { configVersions: Record<ConfigSource, number>; locked: boolean; outOfService?: string } {
    const why = this.security.storeLost
      ? 'store lost: waiting for operations to re-establish its state'
      : this.locked
        ? 'locked by operations'
        : undefined;
    return {
      configVersions: this.configVersions,
      locked: this.isLocked,
      ...(why ? { outOfService: why } : {}),
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
      this.checkConfig(message, source, topic);
    } catch (error) {
      if (error instanceof InvalidMessage) return this.refusals.note('malformed', 'config');
      if (error instanceof Refused) return this.refusals.note(error.reason, 'config');
      throw error;
    }
    const { version } = message.body;
    // the retained config comes again on every connect: one already decided on is not news
    if (this.applied[source]?.configId === message.id || this.lastDecided[source] === message.id) return;
    if (this.security.storeLost) {
      // decided once operations re-established the high-water mark (the retained one may be it)
      this.heldConfigs.set(source, { payload, topic });
      return;
    }
    // the same config as the high-water mark, lost with a wiped store: it may be applied again
    const reapply =
      version === this.versions[source] &&
      this.security.configIds[source] === message.id &&
      this.applied[source]?.configId !== message.id;
    // The nonce is remembered in the transaction that records the decision, so a decision that
    // fails to commit (store full) leaves the config to be redelivered and decided again, instead of
    // refused as a replay of itself (issue 13, no inbound loss). A replay is not news: before a
    // refusal is reported the nonce is looked up; an accepted config's transaction finds a known
    // nonce itself (INSERT OR IGNORE) and records nothing, so it needs no lookup of its own.
    if (version <= this.versions[source] && !reapply) {
      if (await this.replayed(message, source)) return;
      await this.reportConfig(
        {
          version,
          configId: message.id,
          status: 'refused',
          reason: 'not-newer',
          detail: `version ${version} ≤ ${this.versions[source]}`,
        },
        'warn',
        message,
      );
      this.lastDecided[source] = message.id;
      return;
    }
    const before = this.effective;
    const candidate: AppliedConfig = { version, configId: message.id, settings: message.body.settings };
    let after: KioskConfig;
    try {
      after = this.layered({ ...this.applied, [source]: candidate });
    } catch (error) {
      if (!(error instanceof InvalidSettings)) throw error;
      if (await this.replayed(message, source)) return;
      await this.reportConfig(
        { version, configId: message.id, status: 'refused', reason: 'invalid', detail: error.message },
        'warn',
        message,
      );
      this.lastDecided[source] = message.id;
      return;
    }
    const changed = changedPaths(before, after);
    // a setting pushed earlier and still waiting for the restart is not in effect with this one either
    const carried = [...this.awaitingRestart].filter(
      (path) => valueAt(candidate.settings, path) !== undefined,
    );
    const restartRequired = [...new Set([...changed.filter((path) => requiresRestart(path)), ...carried])];
    const previous: AppliedLayers = { ...this.applied };
    const wasHealthy = this.options.health().healthy;
    const fresh = await this.options.store.transaction(async (tx) => {
      if (!(await this.rememberConfig(tx, message))) return false;
      await this.saveStates(tx, [
        [`version.${source}`, version],
        [`applied.${source}`, candidate],
        // acknowledged once in effect (settle), or at the next start if the kiosk stops before that
        [`pendingAck.${source}`, { version, configId: message.id, restartRequired }],
      ]);
      await tx.audit(`ops:${message.keyId ?? '?'}`, 'config.applied', { source, version, changed });
      return true;
    });
    this.lastDecided[source] = message.id;
    if (!fresh) return this.refusals.note('replayed', 'config');
    this.versions[source] = version;
    this.applied[source] = candidate;
    this.effective = after;
    this.persistSecurity();
    this.counts.configApplied++;
    this.options.log.info(
      { source, version, changed: changed.length, restartRequired },
      'fleet: config applied',
    );
    this.options.bus.emit('config.applied', { version, settings: candidate.settings, restartRequired });
    this.settle(source, { version, configId: message.id, restartRequired }, { config: after, changed });
    if (!wasHealthy)
      this.options.log.warn(
        { version },
        'fleet: kiosk was unhealthy before this config; its parts are not held against it',
      );
    this.beginProbation(previous, wasHealthy);
  }

  /**
   * "Applied" means in effect: the running kiosk takes the change (live settings reach their
   * parts), then the config is acknowledged — `applied`, or `pending-restart` with the settings that
   * take effect at start, after which the kiosk restarts at idle (`config.restartPending`) and
   * acknowledges it `applied` when it starts with it. Not awaited by the config handler: the
   * message is acknowledged to the broker once the decision is committed, and a device reopen
   * waiting for a session to end must not hold the link's inbound messages.
   */
  private settle(source: ConfigSource, ack: PendingAck, change: ConfigChange): void {
    const taking = this.options.onConfigChange?.(change) ?? Promise.resolve({ notTaken: [] });
    this.acks = this.acks
      .then(() => taking)
      .then(({ notTaken }) =>
        this.acknowledge(source, {
          ...ack,
          restartRequired: [...new Set([...ack.restartRequired, ...notTaken])],
        }),
      )
      .catch((error: unknown) =>
        this.options.log.error({ err: error, version: ack.version }, 'fleet: config acknowledgement failed'),
      );
  }

  private async acknowledge(source: ConfigSource, ack: PendingAck): Promise<void> {
    const waiting = ack.restartRequired.length > 0;
    const key = `pendingAck.${source}`;
    await this.options.store.transaction(async (tx) => {
      // a newer config of the same source may have replaced the record meanwhile: leave it be
      const mine = "key = ? AND json_extract(value, '$.configId') = ?";
      if (waiting)
        await tx.run(`UPDATE fleet_state SET value = ? WHERE ${mine}`, [
          JSON.stringify(ack),
          key,
          ack.configId,
        ]);
      else await tx.run(`DELETE FROM fleet_state WHERE ${mine}`, [key, ack.configId]);
      tx.emit({
        type: 'config.result',
        body: {
          version: ack.version,
          configId: ack.configId,
          status: waiting ? 'pending-restart' : 'applied',
          ...(waiting ? { restartRequired: ack.restartRequired.slice(0, 100) } : {}),
        },
      });
    });
    if (!waiting) return;
    for (const path of ack.restartRequired) this.awaitingRestart.add(path);
    this.options.bus.emit('config.restartPending', { paths: ack.restartRequired });
  }

  /**
   * Configs decided before the last stop and not yet acknowledged (a restart for their settings,
   * or a stop before their parts took them): this runtime was built with them, so they are in
   * effect now. One that no longer is the applied config of its source was superseded.
   */
  private async acknowledgeAtStart(pending: ReadonlyArray<[ConfigSource, PendingAck]>): Promise<void> {
    if (pending.length === 0) return;
    await this.options.store.transaction(async (tx) => {
      for (const [source, ack] of pending) {
        await tx.run('DELETE FROM fleet_state WHERE key = ?', [`pendingAck.${source}`]);
        if (this.applied[source]?.configId !== ack.configId) continue;
        tx.emit({
          type: 'config.result',
          body: { version: ack.version, configId: ack.configId, status: 'applied' },
        });
        this.options.log.info({ source, version: ack.version }, 'fleet: config in effect since this start');
      }
    });
  }

  /** Authentic, for this kiosk (or the fleet on `fleet/config`), current; throws Refused. */
  private checkConfig(
    message: Envelope<MessageBody<'config.push'>>,
    source: ConfigSource,
    topic: string,
  ): void {
    try {
      this.gate.check({ ...message, type: 'config.push' }, { fleetWide: source === 'fleet' });
    } catch (error) {
      if (error instanceof GateRefused) throw new Refused(error.reason, error.detail);
      throw error;
    }
    const target = message.body.kioskId;
    if (source === 'kiosk' && parseKioskTopic(topic)?.kioskId !== this.options.kioskId)
      throw new Refused('other-kiosk');
    if (target !== undefined && target !== this.options.kioskId) throw new Refused('other-kiosk');
  }

  // ---- probation ------------------------------------------------------------------------------

  /** True while a pushed configuration is on probation (not yet the last good one). */
  get onProbation(): boolean {
    return this.probationWatch !== undefined;
  }

  /** The last good configuration: what a revert would run. */
  get lastGoodConfig(): KioskConfig {
    return this.layeredOrBase(this.probation.read()?.lastGood ?? { ...this.applied });
  }

  /**
   * On start, before configs are acknowledged: a revert recorded before (by `kiosk start` for a
   * crash loop, or by a process that died before carrying it out) is carried out and reported (the
   * reverted config is then not acknowledged as in effect). Returns the candidate to judge again.
   */
  private async resumeProbation(): Promise<{ inputs?: string[] } | undefined> {
    const state = this.probation.resume({ ...this.applied });
    if (state.kind === 'reverted') await this.carryOutRevert(state.reverted, state.run, { atStart: true });
    return state.kind === 'probation' ? state.candidate : undefined;
  }

  /**
   * What judges the new candidate besides a crash loop: the parts, unless one was already down (it is
   * not held against the config); the broker, when the candidate changes the link's settings (a
   * broker outage during an unrelated change, fleet-wide, must not revert that change everywhere).
   */
  private beginProbation(previous: AppliedLayers, wasHealthy: boolean): void {
    const lastGood = this.lastGoodForComparison(this.probation.read()?.lastGood ?? previous);
    // only the link's settings are compared (the rest of the config is not needed for this answer)
    const touchesLink = changedPaths(lastGood.mqtt, this.effective.mqtt, 'mqtt').length > 0;
    const inputs = [...(wasHealthy ? ['parts'] : []), ...(touchesLink ? ['broker'] : [])];
    const candidate = this.probation.begin({ ...this.applied }, previous, { inputs });
    this.watchCandidate(candidate.inputs);
  }

  /** `layeredOrBase(layers)`, remembered for the same layers (only ever compared, never run). */
  private lastGoodForComparison(layers: AppliedLayers): KioskConfig {
    const key = JSON.stringify([layers.fleet?.settings, layers.kiosk?.settings]);
    if (this.lastGoodLayered?.key !== key) this.lastGoodLayered = { key, config: this.layeredOrBase(layers) };
    return this.lastGoodLayered.config;
  }

  /**
   * The probation limits come from the file: a push must not loosen what judges it. Public: a
   * software release on probation is judged by the same inputs (src/update/release-probation.ts).
   */
  healthInputs(): HealthInput[] {
    const { probation } = this.options.baseConfig.fleet;
    const inputs: HealthInput[] = [
      {
        name: 'parts',
        graceMs: probation.partDownMs,
        read: () => {
          const verdict = this.options.health();
          return verdict.healthy ? { ok: true } : { ok: false, detail: verdict.detail ?? 'unhealthy' };
        },
      },
    ];
    const connected = this.options.linkConnected;
    if (connected)
      inputs.push({
        name: 'broker',
        graceMs: probation.brokerUnreachableMs,
        read: () =>
          connected()
            ? { ok: true }
            : {
                ok: false,
                detail: `broker unreachable for ${Math.round(probation.brokerUnreachableMs / 1000)} s`,
              },
      });
    return inputs;
  }

  private watchCandidate(only: readonly string[] | undefined): void {
    this.probationWatch?.stop();
    const windowMs = this.options.baseConfig.fleet.rollbackAfterMs;
    const watch: ProbationWatch = new ProbationWatch({
      inputs: this.healthInputs().filter((input) => !only || only.includes(input.name)),
      passAfterMs: windowMs,
      pollMs: this.options.healthPollMs ?? Math.max(50, Math.min(1000, Math.floor(windowMs / 20))),
      inEffect: () => this.restartPending(this.effective).length === 0,
      decided: (verdict) => {
        const run = this.configQueue.then(() => this.decideProbation(watch, verdict));
        this.configQueue = run.catch((error: unknown) =>
          this.options.log.error({ err: error }, 'fleet: probation decision failed'),
        );
      },
    });
    this.probationWatch = watch;
    watch.start();
  }

  /**
   * Settings of `config` that this process does not run: they take effect at the next start.
   * Remembered for the last config asked about (configs are never changed in place: a change is a
   * new object): a candidate's watch asks every poll, and walking the whole config each time costs
   * every kiosk CPU for minutes after a push.
   */
  private restartPending(config: KioskConfig): string[] {
    if (this.restartPendingOf?.config !== config) {
      const running = this.options.bootConfig ?? this.options.baseConfig;
      const paths = changedPaths(running, config).filter((path) => requiresRestart(path));
      this.restartPendingOf = { config, paths };
    }
    return [...this.restartPendingOf.paths];
  }

  private async decideProbation(
    watch: ProbationWatch,
    verdict: Exclude<Verdict, { kind: 'wait' }>,
  ): Promise<void> {
    if (this.probationWatch !== watch || !this.started) return; // a newer candidate, or stopping
    this.probationWatch = undefined;
    if (verdict.kind === 'pass') return this.keepCandidate();
    const state = this.probation.revert(verdict.cause, verdict.detail);
    if (state?.kind !== 'reverted') return;
    // settings the process runs from the reverted config (a broker URL) go at a restart at idle
    await this.carryOutRevert(state.reverted, state.run, { atStart: false });
  }

  /** The candidate passed: it is the last good configuration now, and operations are told (`kept`). */
  private async keepCandidate(): Promise<void> {
    const before = this.probation.read()?.lastGood ?? {};
    const kept = this.probation.pass();
    if (!kept) return;
    const layers = layersBeyond(kept, before); // the layers that were on probation
    await this.options.store.transaction(async (tx) => {
      for (const layer of layers)
        tx.emit({
          type: 'config.result',
          body: { version: layer.version, configId: layer.configId, status: 'kept' },
        });
    });
    this.options.log.info(
      { versions: layers.map((layer) => layer.version) },
      'fleet: config passed probation; it is the last good one now',
    );
  }

  /**
   * Puts the last good layers back in the store and reports the revert (one `config.result` per
   * reverted layer) in one transaction, then settles it in the ledger. The revert's id is marked in
   * the inbox, so a crash between the commit and `settle` does not report it twice. Returns the
   * settings this process runs that differ from the last good configuration and need a restart.
   */
  private async carryOutRevert(
    reverted: Reverted<AppliedLayers>,
    lastGood: AppliedLayers,
    { atStart }: { atStart: boolean },
  ): Promise<string[]> {
    const before = this.effective;
    const after = this.layeredOrBase(lastGood);
    const undone = layersBeyond(reverted.value, lastGood);
    const restartRequired = this.restartPending(after);
    await this.options.store.transaction(async (tx) => {
      for (const source of ['fleet', 'kiosk'] as const) {
        const layer = lastGood[source];
        if (layer) await this.saveState(tx, `applied.${source}`, layer);
        else await tx.run('DELETE FROM fleet_state WHERE key = ?', [`applied.${source}`]);
      }
      if (!(await tx.markApplied(reverted.id, 'probation.revert'))) return;
      await tx.audit('fleet', 'config.rolledBack', {
        cause: reverted.cause,
        versions: undone.map((layer) => layer.version),
      });
      for (const layer of undone)
        tx.emit({
          type: 'config.result',
          body: {
            version: layer.version,
            configId: layer.configId,
            status: 'rolled-back',
            reason: 'unhealthy',
            detail: reverted.detail,
            ...(restartRequired.length > 0 ? { restartRequired: restartRequired.slice(0, 100) } : {}),
          },
        });
    });
    this.probation.settle(reverted.id);
    for (const source of ['fleet', 'kiosk'] as const) {
      const layer = lastGood[source];
      if (layer) this.applied[source] = layer;
      else delete this.applied[source];
    }
    this.effective = after;
    this.persistSecurity();
    this.counts.rolledBack++;
    this.options.log.warn(
      { cause: reverted.cause, detail: reverted.detail, versions: undone.map((layer) => layer.version) },
      'fleet: config reverted to the last good one',
    );
    if (!atStart) {
      this.options.bus.emit('config.applied', {
        version: lastGood.kiosk?.version ?? lastGood.fleet?.version ?? 0,
        settings: lastGood.kiosk?.settings ?? lastGood.fleet?.settings ?? {},
        restartRequired,
      });
      // live settings of the last good config reach their parts; the rest wait for a restart at idle
      void this.options.onConfigChange?.({ config: after, changed: changedPaths(before, after) });
      if (restartRequired.length > 0)
        this.options.bus.emit('config.restartPending', { paths: restartRequired });
    }
    return restartRequired;
  }

  private layeredOrBase(layers: AppliedLayers): KioskConfig {
    try {
      return this.layered(layers);
    } catch (error) {
      if (!(error instanceof InvalidSettings)) throw error;
      return this.options.baseConfig; // the file changed under them: the file wins (as at start)
    }
  }

  /** True when the nonce of `message` is already remembered (committed): it is a replay. */
  private async nonceKnown(message: Envelope): Promise<boolean> {
    if (!message.nonce) return true;
    const row = await this.options.store
      .read()
      .get('SELECT 1 AS known FROM message_nonces WHERE nonce = ?', [message.nonce]);
    return row !== undefined;
  }

  /** A replayed config is counted, never reported: true (and counted) when `message` is one. */
  private async replayed(message: Envelope, source: ConfigSource): Promise<boolean> {
    if (!(await this.nonceKnown(message))) return false;
    this.lastDecided[source] = message.id;
    this.refusals.note('replayed', 'config');
    return true;
  }

  /** Remembers the config's nonce and id in `tx`; false when they are known already. */
  private async rememberConfig(tx: Transaction, message: Envelope): Promise<boolean> {
    return (await rememberNonce(tx, message, this.now())) && tx.markApplied(message.id, 'config.push');
  }

  /** Reports a refused config in the transaction that remembers its nonce (a replay is not news). */
  private async reportConfig(
    body: MessageBody<'config.result'>,
    level: 'warn' | 'info',
    message: Envelope,
  ): Promise<void> {
    this.counts.configRefused++;
    this.options.log[level](
      { version: body.version, reason: body.reason, detail: body.detail },
      'fleet: config refused',
    );
    await this.options.store.transaction(async (tx) => {
      await this.rememberConfig(tx, message);
      await tx.audit('fleet', 'config.refused', { version: body.version, reason: body.reason });
      tx.emit({ type: 'config.result', body });
    });
  }

  private async saveState(tx: Transaction, key: string, value: unknown): Promise<void> {
    await this.saveStates(tx, [[key, value]]);
  }

  /** Upserts several fleet_state rows in one statement (one round trip to the sqlite3 thread). */
  private async saveStates(tx: Transaction, entries: ReadonlyArray<[string, unknown]>): Promise<void> {
    await tx.run(
      `INSERT INTO fleet_state (key, value) VALUES ${entries.map(() => '(?, ?)').join(', ')} ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      entries.flatMap(([key, value]) => [key, JSON.stringify(value)]),
    );
  }

  // ---- commands --------------------------------------------------------------------------------

  private refusal(message: CommandMessage, reason: RefusalReason, detail?: string): CommandResult {
    this.counts.commandsRefused++;
    this.options.log.warn({ command: message.body.name, reason, detail }, 'fleet: command refused');
    return { name: message.body.name, status: 'refused', reason, ...(detail ? { detail } : {}) };
  }

  /**
   * Runs inside the transaction that records the command's id and nonce, after the gate admitted
   * it (signature, target, times, nonce are checked before anything is stored). What the command
   * changes is written in that transaction; its effects on the running kiosk (bus events, the
   * security file, the log level) and its reply are scheduled with `afterCommit`, so a command
   * whose transaction fails (store full) has done nothing and said nothing, and is redelivered.
   */
  private async onCommand(message: CommandMessage, tx: Transaction, afterCommit: AfterCommit): Promise<void> {
    let result: CommandResult;
    const effects: Array<() => void> = [];
    try {
      await tx.audit(`ops:${message.keyId ?? '?'}`, `command.${message.body.name}`);
      result = await this.run(message, tx, (effect) => effects.push(effect));
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      effects.length = 0;
      result = this.refusal(message, error.reason, error.detail);
    }
    await this.keepAnswer(tx, message, result);
    afterCommit(() => {
      if (result.status === 'ok') this.counts.commandsRun++;
      for (const effect of effects) effect();
      const answered = this.answer(message, result);
      if (result.status === 'ok' && message.body.name === 'restart')
        // A restart cannot wait for anything after it: it was recorded (the audit row above, in
        // the committed inbox transaction), it is answered, then performed — once the answer is
        // acknowledged by the broker, or after `restartingInMs` at the latest.
        void Promise.race([answered, new Promise((done) => setTimeout(done, 50))]).then(() =>
          this.options.bus.emit('fleet.restart', { by: `ops:${message.keyId ?? '?'}` }),
        );
    });
  }

  /**
   * A command that failed on every try and was set aside (src/link/set-aside.ts) is answered
   * `failed`, kept with its inbox row like any answer, so `--wait` and the dashboard learn of it.
   */
  private async answerSetAside(
    message: CommandMessage,
    failure: { name: string; attempts: number },
    tx: Transaction,
    afterCommit: AfterCommit,
  ): Promise<void> {
    const result: CommandResult = {
      name: message.body.name,
      status: 'failed',
      detail: `not applied: failed on each of ${failure.attempts} tries (${failure.name}); kept at the kiosk`,
    };
    await this.keepAnswer(tx, message, result);
    afterCommit(() => void this.answer(message, result));
  }

  /** A command's answer is kept with its inbox row until the broker has it (see answerKept). */
  private async keepAnswer(tx: Transaction, message: CommandMessage, result: CommandResult): Promise<void> {
    await tx.run('UPDATE inbox SET answer = ? WHERE message_id = ?', [JSON.stringify(result), message.id]);
  }

  /**
   * `reassert-state`: operations re-establish the security state they hold (their signed record of
   * this kiosk's config versions and lock). Versions only move up; the lock is theirs to say.
   */
  private async reassertState(
    message: CommandMessage,
    tx: Transaction,
    afterCommit: AfterCommit,
  ): Promise<Record<string, unknown>> {
    const args = message.body.args ?? {};
    const number = (value: unknown) =>
      typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
    const fleetVersion = number(args.fleetVersion);
    const kioskVersion = number(args.kioskVersion);
    if (fleetVersion === undefined || kioskVersion === undefined || typeof args.locked !== 'boolean')
      throw new Refused('invalid', 'args: fleetVersion, kioskVersion (integers ≥ 0), locked (boolean)');
    const versions = {
      fleet: Math.max(this.versions.fleet, fleetVersion),
      kiosk: Math.max(this.versions.kiosk, kioskVersion),
    };
    const locked = args.locked;
    await this.saveStates(tx, [
      ['version.fleet', versions.fleet],
      ['version.kiosk', versions.kiosk],
      ['locked', locked],
      ['store.id', this.security.storeId],
    ]);
    const wasLost = this.security.storeLost;
    afterCommit(() => {
      this.versions.fleet = Math.max(this.versions.fleet, versions.fleet);
      this.versions.kiosk = Math.max(this.versions.kiosk, versions.kiosk);
      this.locked = locked;
      this.security = { ...this.security, storeLost: false };
      this.persistSecurity();
      this.options.bus.emit('fleet.lock', { locked, by: `ops:${message.keyId ?? '?'}` });
      if (wasLost)
        this.options.log.warn({ versions: this.versions }, 'fleet: state re-established by operations');
      // the held configs are decided against the new high-water mark
      this.releaseHeldConfigs();
    });
    return { versions, locked, wasLost };
  }

  private releaseHeldConfigs(): void {
    for (const { payload, topic } of this.heldConfigs.values()) void this.onConfig(payload, topic);
    this.heldConfigs.clear();
  }

  /**
   * The operations table of commands (STYLE.md practice 6): writes in `tx`, effects on the running
   * kiosk through `afterCommit`.
   */
  private async run(
    message: CommandMessage,
    tx: Transaction,
    afterCommit: AfterCommit,
  ): Promise<CommandResult> {
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
        const locked = name === 'lock';
        await this.saveState(tx, 'locked', locked);
        afterCommit(() => {
          this.locked = locked;
          this.persistSecurity();
          this.options.bus.emit('fleet.lock', { locked, by });
        });
        return ok({ locked });
      }
      case 'reassert-state':
        return ok(await this.reassertState(message, tx, afterCommit));
      case 'restart':
        return ok({ restartingInMs: 50 });
      case 'purge-sessions':
        afterCommit(() => this.options.bus.emit('fleet.purgeSessions', { by }));
        return ok();
      case 'resync-manifest': {
        // recorded and queued for the registry in this transaction; the differences come later,
        // as the `manifest.resynced` event of the same requestId
        const asked = await this.options.resyncManifest?.(tx, by);
        if (!asked) throw new Refused('invalid', 'this kiosk has no manifest to resync');
        if ('refused' in asked) throw new Refused('invalid', asked.refused);
        return ok({ requestId: asked.requestId });
      }
      case 'collect-diagnostics':
        return ok(this.diagnosticsBundle());
      case 'update-software': {
        const version = args?.version;
        if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version))
          throw new Refused('invalid', 'args.version must be MAJOR.MINOR.PATCH');
        if (!this.options.updateSoftware)
          throw new Refused('invalid', 'this kiosk takes no software updates');
        return ok(await this.options.updateSoftware({ orderId: message.id, version, by }, tx, afterCommit));
      }
      case 'set-log-level': {
        const level = args?.level;
        if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level))
          throw new Refused('invalid', `args.level must be one of ${LOG_LEVELS.join(', ')}`);
        afterCommit(() => this.options.setLogLevel(level as LogLevel));
        return ok({ level });
      }
      default:
        throw new Refused('unknown-command', name);
    }
  }

  private diagnosticsBundle(): Record<string, unknown> {
    const bundle = {
      ...this.options.diagnostics(),
      fleet: {
        configVersions: this.configVersions,
        locked: this.locked,
        storeLost: this.security.storeLost,
        counts: { ...this.counts },
        refusals: Object.fromEntries(this.refusals.totals),
      },
    };
    const size = Buffer.byteLength(JSON.stringify(bundle));
    if (size <= MAX_DIAGNOSTICS_BYTES) return bundle;
    return { truncated: true, bytes: size, fleet: bundle.fleet };
  }

  /**
   * Sends the reply; the promise settles (never rejects) once the broker has it, or it failed. Once
   * the broker has it, the kept copy goes; if it failed, the broker redelivers the command (its
   * PUBACK never went out either) and `answerKept` sends the kept copy then.
   */
  private async answer(message: CommandMessage, body: CommandResult): Promise<void> {
    this.answersSending.add(message.id);
    const sent = await this.send(body, message.correlationId ?? message.id);
    this.answersSending.delete(message.id);
    if (!sent) return;
    // known at once, before the clearing commits: a copy arriving meanwhile is a replay
    this.answersDelivered.add(message.id);
    await this.options.store
      .transaction((tx) => tx.run('UPDATE inbox SET answer = NULL WHERE message_id = ?', [message.id]))
      .then(
        () => this.answersDelivered.delete(message.id),
        (error: unknown) =>
          this.options.log.warn({ err: (error as Error).message }, 'fleet: sent answer not cleared'),
      );
  }

  /**
   * A command redelivered after it ran (committed) while the link was down, so its answer never
   * reached the broker: answered with the answer it got then, instead of "replayed". True when
   * there was one; a replay of a command whose answer was delivered is refused as before.
   */
  private async answerKept(message: CommandMessage): Promise<boolean> {
    if (this.answersDelivered.has(message.id)) return false;
    const row = await this.options.store
      .read()
      .get<{ answer: string | null }>('SELECT answer FROM inbox WHERE message_id = ?', [message.id])
      .catch(() => undefined);
    if (!row?.answer) return false;
    // its first answer still on its way: that one says it (or fails, and the next redelivery comes)
    if (this.answersSending.has(message.id)) return true;
    this.options.log.info({ command: message.body.name }, 'fleet: command redelivered; its kept answer sent');
    // not awaited: mqtt.js handles one incoming packet at a time, so this answer's PUBACK cannot
    // arrive while the redelivered command is still being handled (see publishResult)
    void this.answer(message, JSON.parse(row.answer) as CommandResult);
    return true;
  }

  private publishResult(body: CommandResult, correlationId: string | undefined): Promise<void> {
    // Not awaited: mqtt.js handles incoming packets one at a time, so the PUBACK of this answer
    // cannot arrive while the command's own message is still being handled.
    void this.send(body, correlationId);
    return Promise.resolve();
  }

  /** True once the broker has the reply; false (logged) when it could not be sent. */
  private send(body: CommandResult, correlationId: string | undefined): Promise<boolean> {
    const reply = envelope('command.result', this.options.kioskId, body, {
      ...(correlationId ? { correlationId } : {}),
    });
    return this.options.publish(topics.cmdResult(this.options.kioskId), reply).then(
      () => true,
      (error: unknown) => {
        this.options.log.warn(
          { err: (error as Error).message, command: body.name },
          'fleet: command result not sent',
        );
        return false;
      },
    );
  }
}

/** The correlation id of an undecodable command, when its text still shows one (for the refusal). */
function correlationOf(payload: Buffer): string | undefined {
  const match = /"correlationId"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"/.exec(payload.subarray(0, 4096).toString());
  return match?.[1];
}

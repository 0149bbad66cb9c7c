/**
 * The orchestrator of the citizen sessions: it owns the one session state, feeds it events from
 * the devices, the bus, the UI and the outcomes of its own effects, and executes the reducer's
 * effects (session-machine.ts) against the real drivers, the vault and the link. It implements
 * `SessionController` for the UI server.
 *
 * Secrets (the unsealed MRZ and finger template of the current pickup, the ID number of an
 * update) live in `this.secrets` only, and are dropped on every `purge`.
 */
import { randomBytes, type X509Certificate } from 'node:crypto';
import type { CardDispenser, FingerprintSensor, ReceiptPrinter } from '../../devices/index.js';
import { DeviceCanceled, DeviceDisconnected, DeviceTimeout } from '../../devices/index.js';
import {
  AccessControlError,
  type AccessPolicy,
  type CardTransport,
  type TrustList,
  parseDg1,
  readCard,
} from '../card/index.js';
import { bacKeyFromMrz, parseCccdMrz, parseQr } from '../cccd/index.js';
import { RequestTimeout } from '../link/link.js';
import type { Envelope, MessageBody, MessageType } from '../link/messages.js';
import type { Store } from '../store/index.js';
import type { SealingIdentity } from '../store/seal.js';
import type { EventBus } from '../util/bus.js';
import type { DeviceHealthState, RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import {
  type ContactChanges,
  initialState,
  maskIdNumber,
  reduce,
  type SessionEffect,
  type SessionEvent,
  type SessionSettings,
  type SessionState,
  viewOf,
} from './session-machine.js';
import { type FingerGuard, type FingerSubject } from './finger-guard.js';
import { composeReceipt, type ReceiptFacts } from './receipt.js';
import { MoveJournal, readLoadIntents, reconcileMechanics } from './reconcile.js';
import { openSecrets, PickupWithdrawn, type PickupSecrets, type Vault } from './vault.js';
import type { SessionController, SessionView, UiInput } from './view.js';

/** The request/response path to the registry (KioskLink.request). */
export type RegistryRequest = <Req extends MessageType, Res extends MessageType>(
  op: string,
  type: Req,
  body: MessageBody<Req>,
  expected: Res,
  timeoutMs?: number,
) => Promise<Envelope<MessageBody<Res>>>;

export interface SessionDevices {
  fingerprint?: FingerprintSensor;
  dispenser?: CardDispenser;
  printer?: ReceiptPrinter;
  /** opens the chip station's reader (a pty to the station, or PC/SC) for one read */
  openChipStation?: () => Promise<CardTransport>;
}

/** The settings of citizen sessions that operations may change while the kiosk runs. */
export interface SessionTuning {
  timeouts: SessionSettings['timeouts'];
  maxFingerAttempts: number;
  identifyRateLimit?: { attempts: number; windowMs: number };
  requestTimeoutMs: number;
  accessPolicy: AccessPolicy;
}

export interface SessionOrchestratorOptions {
  settings: SessionSettings;
  /** printed on receipts */
  kiosk?: { id: string; site?: string | undefined };
  devices: SessionDevices;
  /** health of every configured device, as the device manager reports it */
  deviceStates: () => Record<string, DeviceHealthState>;
  /** whether operations have locked the kiosk (fleet `lock` command; survives restarts) */
  isLocked: () => boolean;
  vault: Vault;
  /** failed fingers per pickup, persisted (issue 12) */
  fingerGuard: FingerGuard;
  store: Store;
  identity: SealingIdentity;
  /** seals a data-update submission to the registry (src/store/hpke.ts `updateSealer`) */
  sealUpdate: (trackingCode: string, plaintext: Buffer) => Promise<string>;
  trustAnchors: readonly X509Certificate[];
  /** master lists and CRLs (card.masterLists / card.crls) */
  trustList?: TrustList;
  /** chip access policy (card.accessPolicy); PACE-CAN is always tried first when the chip offers it */
  accessPolicy?: AccessPolicy;
  request?: RegistryRequest;
  requestTimeoutMs: number;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  now?: () => number;
}

type Secrets =
  | { kind: 'pickup'; pickup: PickupSecrets; subject: FingerSubject }
  /** no card waits for what was typed or scanned: a finger step that never matches (issue 12) */
  | { kind: 'decoy'; template: Buffer; subject: FingerSubject }
  | { kind: 'update'; idNumber: string };

/** A template of the sensor's size that matches no finger (the decoy's). */
const DECOY_TEMPLATE_BYTES = 512;

export class SessionOrchestrator implements SessionController, Service {
  readonly name = 'sessions';
  private state: SessionState = initialState();
  private seq = 0;
  private view: SessionView;
  private readonly listeners = new Set<(view: SessionView) => void>();
  private timer: NodeJS.Timeout | undefined;
  private secrets: Secrets | undefined;
  private abort = new AbortController();
  private readonly now: () => number;
  private readonly detach: Array<() => void> = [];
  private running = false;
  private recovering = false;
  /** the dispenser board reset; no moves until the inventory is reconciled with its sensors */
  private boardReset = false;
  /** a `fault.inventory` was reported and nothing has been reconciled since */
  private inventoryRefused = false;
  private readonly journal: MoveJournal;
  /**
   * The kiosk's own time per step since the last reset: reducer runs and effects minus the time
   * spent waiting on devices (serial exchanges, mechanics, the chip's answers) and the link.
   */
  readonly ownTimeMs = new Map<string, number>();

  constructor(private readonly options: SessionOrchestratorOptions) {
    this.now = options.now ?? Date.now;
    this.view = viewOf(this.state, this.seq);
    this.journal = new MoveJournal(options.store);
  }

  // ---- SessionController ------------------------------------------------------------------------

  current(): SessionView {
    return this.view;
  }

  subscribe(listener: (view: SessionView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  handle(input: UiInput): void {
    this.dispatch({ type: 'ui', input });
  }

  /** What sessions run with now: timeouts, attempts, rate limit, request timeout, chip access. */
  get tuning(): SessionTuning {
    const { settings, requestTimeoutMs, accessPolicy } = this.options;
    return {
      timeouts: { ...settings.timeouts },
      maxFingerAttempts: settings.maxFingerAttempts,
      ...(settings.identifyRateLimit ? { identifyRateLimit: { ...settings.identifyRateLimit } } : {}),
      requestTimeoutMs,
      accessPolicy: accessPolicy ?? 'prefer-pace',
    };
  }

  /**
   * Pushed settings (live config): the next reducer step, the next timer armed, the next request
   * and the next chip read use them; a timer already running keeps its length.
   */
  retune(tuning: SessionTuning): void {
    const { identifyRateLimit, timeouts, maxFingerAttempts } = tuning;
    this.options.settings = {
      ...this.options.settings,
      timeouts: { ...timeouts },
      maxFingerAttempts,
      ...(identifyRateLimit ? { identifyRateLimit: { ...identifyRateLimit } } : {}),
    };
    this.options.requestTimeoutMs = tuning.requestTimeoutMs;
    this.options.accessPolicy = tuning.accessPolicy;
  }

  /** Between sessions: nothing a citizen started is in progress (a restart may happen now). */
  get idle(): boolean {
    return this.state.phase === 'attract' || this.state.phase === 'out-of-service';
  }

  /** The session's current phase (tests and the bench read it). */
  get phase(): SessionState['phase'] {
    return this.state.phase;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async start(): Promise<void> {
    const { bus, devices } = this.options;
    this.running = true;
    bus.on('sessions', 'device.health', ({ device, state }) => {
      // while a reset board is being reconciled, the dispenser counts as missing (no new session)
      const present = state === 'ok' && !(device === 'dispenser' && this.boardReset);
      this.dispatch({ type: 'device', device, present });
      // every board (re)connect: the inventory is checked against the board's sensors
      if (device === 'dispenser' && state === 'ok') void this.recover();
    });
    bus.on('sessions', 'store.health', ({ acceptsNewSessions }) =>
      this.dispatch({ type: 'store', acceptsNewSessions }),
    );
    bus.on('sessions', 'fleet.lock', ({ locked }) => this.dispatch({ type: 'lock', locked }));
    // `purge sessions` from operations: the session in progress ends as a citizen's cancel does
    // (a card outside its slot is parked first), and its secrets are dropped.
    bus.on('sessions', 'fleet.purgeSessions', () => this.dispatch({ type: 'ui', input: { type: 'cancel' } }));
    bus.on('sessions', 'scanner.scan', ({ text }) => this.dispatch({ type: 'scan', text }));
    const onTaken = () => this.dispatch({ type: 'taken' });
    devices.dispenser?.on('taken', onTaken);
    this.detach.push(() => devices.dispenser?.off('taken', onTaken));
    const onBoot = () => this.onBoardReset();
    devices.dispenser?.on('boot', onBoot);
    this.detach.push(() => devices.dispenser?.off('boot', onBoot));
    const states = this.options.deviceStates();
    for (const device of this.options.settings.neededDevices)
      this.dispatch({
        type: 'device',
        device,
        present: states[device] === 'ok',
      });
    if (
      (await this.options.vault.inTransit()).length > 0 ||
      (await readLoadIntents(this.options.store)).length > 0
    )
      // no session until the card found outside its slot after a restart is safe again
      this.state = { ...this.state, cardAdrift: true };
    if (this.options.deviceStates().dispenser === 'ok') void this.recover();
    this.dispatch({ type: 'store', acceptsNewSessions: this.options.store.acceptsNewSessions });
    this.dispatch({ type: 'lock', locked: this.options.isLocked() });
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.purge();
    this.options.bus.off('sessions');
    for (const undo of this.detach.splice(0)) undo();
  }

  health(): Health {
    const { phase, missing } = this.state;
    if (phase === 'out-of-service')
      return {
        state: 'degraded',
        detail: `out of service${missing.length ? `: ${missing.join(', ')} missing` : ''}`,
      };
    return { state: 'up', detail: phase };
  }

  /**
   * On every board (re)connect, board reset and restart: the inventory (store + move journal) is
   * reconciled with the board's sensors (src/kiosk/reconcile.ts). Only between sessions: a session
   * in progress is ended first (a reset ends it through `onBoardReset`). Where the two cannot be
   * reconciled the kiosk stays out of service and `fault.inventory` is reported (once per process).
   */
  async recover(): Promise<void> {
    const dispenser = this.options.devices.dispenser;
    if (this.recovering || !dispenser || !this.running) return;
    if (this.state.phase !== 'attract' && this.state.phase !== 'out-of-service') return;
    this.recovering = true;
    try {
      await this.reconcileBoard(dispenser);
    } finally {
      this.recovering = false;
    }
  }

  private async reconcileBoard(dispenser: CardDispenser): Promise<void> {
    const { vault, store, log } = this.options;
    try {
      const result = await reconcileMechanics(
        { store, vault, dispenser, journal: this.journal, log },
        {
          report: !this.inventoryRefused,
        },
      );
      if (result.kind === 'refused') {
        this.inventoryRefused = true;
        this.state = { ...this.state, cardAdrift: true };
        this.dispatch({ type: 'store', acceptsNewSessions: store.acceptsNewSessions });
        return;
      }
      this.inventoryRefused = false;
      if (this.boardReset) {
        this.boardReset = false;
        this.dispatch({ type: 'device', device: 'dispenser', present: dispenser.health === 'ok' });
      }
      if (this.state.cardAdrift) this.dispatch({ type: 'vault-safe' });
    } catch (error) {
      log.error(
        { err: errorText(error) },
        'sessions: reconciling the inventory with the board failed; out of service until it is cleared',
      );
      this.state = { ...this.state, cardAdrift: true };
      this.dispatch({ type: 'store', acceptsNewSessions: store.acceptsNewSessions });
    }
  }

  /**
   * The board reset while connected (its watchdog): whatever it was doing is lost, so the session
   * ends without moving anything (the park is skipped: the board's idea of the card is gone), and
   * the reconciliation decides where the card is from the sensors and the journal.
   */
  private onBoardReset(): void {
    this.options.log.warn({ phase: this.state.phase }, 'sessions: the dispenser board reset');
    this.boardReset = true;
    this.dispatch({ type: 'device', device: 'dispenser', present: false });
    // the session's park (if any) returns at once; reconcile once the session is over
    setImmediate(() => void this.recover());
  }

  // ---- the loop -----------------------------------------------------------------------------------

  dispatch(event: SessionEvent): void {
    if (!this.running && event.type !== 'device' && event.type !== 'store') return;
    const started = performance.now();
    const { state, effects } = reduce(this.state, event, this.now(), this.options.settings);
    const changed = state !== this.state;
    this.state = state;
    for (const effect of effects) this.execute(effect);
    if (changed) this.publish();
    if (this.boardReset && (state.phase === 'attract' || state.phase === 'out-of-service'))
      void this.recover();
    this.addOwnTime('reduce', performance.now() - started);
  }

  private addOwnTime(step: string, ms: number): void {
    this.ownTimeMs.set(step, (this.ownTimeMs.get(step) ?? 0) + ms);
  }

  private publish(): void {
    const next = viewOf(this.state, this.seq + 1);
    if (JSON.stringify({ ...next, seq: 0 }) === JSON.stringify({ ...this.view, seq: 0 })) return;
    this.seq++;
    this.view = next;
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (error) {
        this.options.log.error({ err: errorText(error) }, 'sessions: view listener failed');
      }
    }
  }

  private purge(): void {
    this.secrets = undefined;
    this.abort.abort();
    this.abort = new AbortController();
  }

  private execute(effect: SessionEffect): void {
    switch (effect.kind) {
      case 'timer':
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.dispatch({ type: 'timeout', timer: effect.name }), effect.ms);
        return;
      case 'clear-timer':
        clearTimeout(this.timer);
        this.timer = undefined;
        return;
      case 'purge':
        return this.purge();
      case 'stop-waits':
        // cancels the sensor's polling; the secrets stay for the attempt that follows
        this.abort.abort();
        this.abort = new AbortController();
        return;
      default:
        void this.runAsync(effect);
    }
  }

  /** Runs one async effect; an unexpected error becomes a device fault of the effect's operation. */
  private async runAsync(
    effect: Exclude<SessionEffect, { kind: 'timer' | 'clear-timer' | 'purge' | 'stop-waits' }>,
  ): Promise<void> {
    const meter = new WaitMeter();
    const started = performance.now();
    let outcome: SessionEvent | undefined;
    try {
      outcome = await this.perform(effect, meter);
    } catch (error) {
      this.options.log.error({ effect: effect.kind, err: errorText(error) }, 'sessions: effect failed');
      outcome = { type: 'device-fault', op: effect.op, device: 'runtime' };
    }
    this.addOwnTime(effect.kind, performance.now() - started - meter.waited);
    if (outcome) this.dispatch(outcome);
  }

  private async perform(
    effect: Exclude<SessionEffect, { kind: 'timer' | 'clear-timer' | 'purge' | 'stop-waits' }>,
    meter: WaitMeter,
  ): Promise<SessionEvent | undefined> {
    const { vault, devices, log } = this.options;
    switch (effect.kind) {
      case 'lookup-pickup':
        return this.identifyPickup(effect.op, effect.by, effect.value);
      case 'verify-finger':
        return this.verifyPickupFinger(effect.op, effect.timeoutMs, meter);
      case 'verify-finger-online': {
        const sensor = devices.fingerprint;
        const secrets = this.secrets;
        const request = this.options.request;
        if (!sensor || secrets?.kind !== 'update')
          return { type: 'device-fault', op: effect.op, device: 'fingerprint' };
        if (!request) return { type: 'remote-unavailable', op: effect.op };
        let template: Buffer;
        try {
          template = await meter.wait(this.captureTemplate(sensor, effect.timeoutMs));
        } catch (error) {
          return this.fingerError(error, effect.op);
        }
        try {
          const answer = await meter.wait(
            request(
              'finger-verify',
              'registry.fingerVerify',
              { idNumber: secrets.idNumber, template: template.toString('base64') },
              'registry.fingerVerified',
              this.options.requestTimeoutMs,
            ),
          );
          return { type: 'finger-verified-online', op: effect.op, ...answer.body };
        } catch (error) {
          log.warn(
            { err: errorText(error), timeout: error instanceof RequestTimeout },
            'sessions: registry did not verify the finger',
          );
          return { type: 'remote-unavailable', op: effect.op };
        }
      }
      case 'fetch-card':
        return this.fetchCard(effect.op, effect.pickupId, effect.slot, meter);
      case 'present': {
        const dispenser = devices.dispenser;
        if (!dispenser) return { type: 'device-fault', op: effect.op, device: 'dispenser' };
        try {
          await vault.markInTray(effect.pickupId);
        } catch (error) {
          if (error instanceof PickupWithdrawn) return this.withdrawnMidSession(effect.op, effect.pickupId);
          throw error;
        }
        try {
          await meter.wait(dispenser.present());
        } catch (error) {
          log.error({ err: errorText(error) }, 'sessions: presenting the card failed');
          return { type: 'device-fault', op: effect.op, device: 'dispenser' };
        }
        return { type: 'presented', op: effect.op };
      }
      case 'complete': {
        await vault.complete(effect.pickupId, effect.slot);
        const receiptCode = `R-${randomCode()}`;
        const printed = await this.printReceipt(meter, 'pickup', receiptCode);
        log.info({ pickupId: effect.pickupId, printed }, 'sessions: pickup completed');
        return { type: 'completed', op: effect.op, receiptCode, printed };
      }
      case 'await-lift':
        return this.awaitLift(effect.op, effect.showMs, effect.timeoutMs);
      case 'refer': {
        // staff find the session by this code: the reason and the pickup are logged under it
        const reference = `S-${randomCode()}`;
        log.warn(
          { reference, reason: effect.reason, ...(effect.pickupId ? { pickupId: effect.pickupId } : {}) },
          'sessions: citizen referred to staff',
        );
        return { type: 'referred', op: effect.op, reference };
      }
      case 'park':
        return { type: 'parked', op: effect.op, ok: await this.park(effect, meter) };
      case 'identify-update': {
        let idNumber: string;
        try {
          idNumber = parseQr(effect.qrText).idNumber;
        } catch {
          return { type: 'update-identified', op: effect.op };
        }
        this.secrets = { kind: 'update', idNumber };
        return { type: 'update-identified', op: effect.op, maskedId: maskIdNumber(idNumber) };
      }
      case 'submit-update':
        return this.submitUpdate(effect.op, effect.changes, meter);
      case 'ask-status': {
        const row = await this.options.store
          .read()
          .get<{ state: string; note: string | null }>(
            'SELECT state, note FROM data_updates WHERE tracking_code = ?',
            [effect.trackingCode],
          );
        if (!row) return { type: 'status-result', op: effect.op };
        const state =
          row.state === 'submitted'
            ? 'pending'
            : (row.state as 'received' | 'approved' | 'rejected' | 'pending');
        return {
          type: 'status-result',
          op: effect.op,
          status: { trackingCode: effect.trackingCode, state, ...(row.note ? { note: row.note } : {}) },
        };
      }
    }
  }

  /**
   * The missed attempt's result stays on the screen for `showMs`, and the sensor is polled until
   * it sees no finger: a finger left on the sensor would otherwise use every attempt at once.
   */
  private async awaitLift(op: number, showMs: number, timeoutMs: number): Promise<SessionEvent | undefined> {
    const sensor = this.options.devices.fingerprint;
    if (!sensor) return { type: 'device-fault', op, device: 'fingerprint' };
    const signal = this.abort.signal;
    const shown = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, showMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      await Promise.all([shown, sensor.waitForLift({ timeoutMs, signal })]);
    } catch (error) {
      // not lifted within the step: the session's finger timer asks "need more time?"
      if (error instanceof DeviceTimeout || error instanceof DeviceCanceled) return undefined;
      if (error instanceof DeviceDisconnected) return { type: 'device-fault', op, device: 'fingerprint' };
      throw error;
    }
    return signal.aborted ? undefined : { type: 'finger-lifted', op };
  }

  /**
   * Issue 12: a typed ID or a scanned code with no card waiting leads to the same finger step as
   * one with a card — a decoy whose template matches no finger, failing and counting like a real
   * one — so the touchscreen never tells whether a card waits before a finger matched. The masked
   * ID shown is the one typed (never one from the staged secrets), so both look alike there too.
   */
  private async identifyPickup(op: number, by: 'id' | 'code', value: string): Promise<SessionEvent> {
    const { vault, identity, fingerGuard } = this.options;
    const found = await vault.findReady(by, value);
    const maskedId = by === 'id' ? maskIdNumber(value) : undefined;
    if (found) {
      const pickup = openSecrets(found.sealed, identity);
      const subject: FingerSubject = { kind: 'pickup', pickupId: found.pickupId };
      this.secrets = { kind: 'pickup', pickup, subject };
      return {
        type: 'lookup-result',
        op,
        found: { pickupId: found.pickupId, slot: found.slot, ...(maskedId ? { maskedId } : {}) },
        attemptsLeft: await fingerGuard.attemptsLeft(subject),
      };
    }
    const subject: FingerSubject = { kind: 'decoy', lookup: identity.lookupHash(`${by}:${value}`) };
    this.secrets = { kind: 'decoy', template: randomBytes(DECOY_TEMPLATE_BYTES), subject };
    return {
      type: 'lookup-result',
      op,
      ...(maskedId ? { maskedId } : {}),
      attemptsLeft: await fingerGuard.attemptsLeft(subject),
    };
  }

  /**
   * One finger attempt of a pickup on the sensor. A miss is committed to the failed-finger count
   * before the citizen sees it, so neither a new session nor a restart (nor a kill) wipes it.
   */
  private async verifyPickupFinger(
    op: number,
    timeoutMs: number,
    meter: WaitMeter,
  ): Promise<SessionEvent | undefined> {
    const sensor = this.options.devices.fingerprint;
    const secrets = this.secrets;
    if (!sensor || (secrets?.kind !== 'pickup' && secrets?.kind !== 'decoy'))
      return { type: 'device-fault', op, device: 'fingerprint' };
    const template =
      secrets.kind === 'pickup' ? Buffer.from(secrets.pickup.fingerTemplate, 'base64') : secrets.template;
    let outcome: SessionEvent | undefined;
    try {
      const result = await meter.wait(
        sensor.verifyFinger(template, { timeoutMs, signal: this.abort.signal }),
      );
      // a decoy never matches, whatever the sensor says
      const matched = result.matched && secrets.kind === 'pickup';
      outcome = { type: 'finger-result', op, result: matched ? 'matched' : 'no-match' };
    } catch (error) {
      outcome = this.fingerError(error, op);
    }
    if (outcome?.type === 'finger-result' && outcome.result === 'no-match')
      await this.options.fingerGuard.recordFailure(secrets.subject);
    return outcome;
  }

  private fingerError(error: unknown, op: number): SessionEvent | undefined {
    // No finger within the attempt: the session's own finger timer ends it. Canceled: purged.
    if (error instanceof DeviceTimeout || error instanceof DeviceCanceled) return undefined;
    if (error instanceof DeviceDisconnected) return { type: 'device-fault', op, device: 'fingerprint' };
    // a bad image or another status from the sensor counts as a failed attempt
    return { type: 'finger-result', op, result: 'no-match' };
  }

  private async captureTemplate(sensor: FingerprintSensor, timeoutMs: number): Promise<Buffer> {
    await sensor.waitForFinger({ timeoutMs, signal: this.abort.signal });
    await sensor.imageToTemplate(1, { signal: this.abort.signal });
    return sensor.uploadTemplate(1, { signal: this.abort.signal });
  }

  /**
   * Moves the card to the chip station and verifies it against the staged secrets: BAC with the
   * staged MRZ (ICAO 9303 part 11 §4.3; another citizen's chip fails here), DG1 compared with the
   * staged MRZ, passive authentication (part 11 §5.1), Active Authentication (part 11 §6.1).
   */
  private async fetchCard(
    op: number,
    pickupId: string,
    slot: number,
    meter: WaitMeter,
  ): Promise<SessionEvent> {
    const { devices, vault, log } = this.options;
    const secrets = this.secrets;
    const dispenser = devices.dispenser;
    if (!dispenser || !devices.openChipStation || secrets?.kind !== 'pickup')
      return { type: 'device-fault', op, device: dispenser ? 'card-reader' : 'dispenser' };
    try {
      await vault.markAtStation(pickupId);
    } catch (error) {
      if (error instanceof PickupWithdrawn) return this.withdrawnMidSession(op, pickupId);
      throw error;
    }
    try {
      await meter.wait(dispenser.moveToStation(slot));
    } catch (error) {
      log.error({ err: errorText(error) }, 'sessions: moving the card to the chip station failed');
      return { type: 'device-fault', op, device: 'dispenser' };
    }
    const staged = parseCccdMrz(secrets.pickup.mrzLines);
    let transport: CardTransport | undefined;
    try {
      transport = meter.transport(await meter.wait(devices.openChipStation()));
      // PACE with the CAN (the last six digits of the ID number, cccd-facts.md §4.1); the MRZ
      // stays the BAC key for chips without PACE.
      const result = await readCard(transport, {
        access: {
          kind: 'can',
          can: staged.mrz.optionalData1.slice(6, 12),
          bacKey: bacKeyFromMrz(staged.mrz),
        },
        accessPolicy: this.options.accessPolicy ?? 'prefer-pace',
        trustAnchors: this.options.trustAnchors,
        ...(this.options.trustList ? { trustList: this.options.trustList } : {}),
        dataGroups: [1, 14, 15],
        log,
      });
      // DG1 as the chip holds it (hashed by passive authentication) against the staged MRZ
      const dg1 = result.dataGroups.get(1);
      const dg1Matches = dg1 !== undefined && parseDg1(dg1).text === secrets.pickup.mrzLines.join('');
      return {
        type: 'card-checked',
        op,
        dg1Matches,
        passiveAuth: result.passive.passed,
        // "chip authentic" = PA ∧ (CA ∨ AA), a CA/AA verdict counting only with its DG14/DG15
        // bound by a PA-verified SOD (src/card/authenticity.ts)
        activeAuth: result.authenticity.caBound || result.authenticity.aaBound,
      };
    } catch (error) {
      // BAC refused with the staged key: the chip is not this citizen's card
      if (error instanceof AccessControlError)
        return { type: 'card-checked', op, dg1Matches: false, passiveAuth: false, activeAuth: false };
      log.warn({ err: errorText(error) }, 'sessions: the chip could not be read');
      return { type: 'card-unreadable', op };
    } finally {
      await transport?.close().catch(() => undefined);
    }
  }

  private withdrawnMidSession(op: number, pickupId: string): SessionEvent {
    this.options.log.warn({ pickupId }, 'sessions: the registry withdrew the pickup during the session');
    return { type: 'withdrawn', op };
  }

  /** Brings the card to safety: back to its slot, or to the capture bin; falls back to the bin. */
  private async park(effect: Extract<SessionEffect, { kind: 'park' }>, meter: WaitMeter): Promise<boolean> {
    const { devices, vault, log } = this.options;
    const dispenser = devices.dispenser;
    if (!dispenser) return false;
    if (this.boardReset) return false; // the reconciliation after the reset brings the card to safety
    let where: 'in-slot' | 'capture-bin' | 'unknown' = 'unknown';
    if (effect.to === 'slot') {
      try {
        await meter.wait(dispenser.returnToSlot(effect.slot));
        await vault.markBackInSlot(effect.pickupId);
        where = 'in-slot';
      } catch (error) {
        log.error(
          { err: errorText(error) },
          'sessions: returning the card to its slot failed; trying the capture bin',
        );
      }
    }
    if (where === 'unknown') {
      try {
        await meter.wait(dispenser.retract());
        await vault.capture(
          effect.pickupId,
          effect.slot,
          effect.reason === 'not-taken' ? 'not-taken' : 'device-fault',
        );
        where = 'capture-bin';
      } catch (error) {
        log.error({ err: errorText(error) }, 'sessions: retracting the card failed');
      }
    }
    if (effect.fault || where === 'unknown')
      await vault.reportFault({ pickupId: effect.pickupId, fault: effect.fault ?? 'device', card: where });
    log.warn(
      { pickupId: effect.pickupId, reason: effect.reason, fault: effect.fault, card: where },
      'sessions: card parked',
    );
    return where !== 'unknown';
  }

  private async submitUpdate(op: number, changes: ContactChanges, meter: WaitMeter): Promise<SessionEvent> {
    const secrets = this.secrets;
    if (secrets?.kind !== 'update') return { type: 'device-fault', op, device: 'runtime' };
    const trackingCode = `U-${randomCode()}`;
    const at = this.now();
    // sealed before it is stored: the outbox holds only ciphertext until the registry acknowledges
    const plaintext = Buffer.from(JSON.stringify({ idNumber: secrets.idNumber, changes }));
    const sealed = await this.options.sealUpdate(trackingCode, plaintext).finally(() => plaintext.fill(0));
    await this.options.store.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO data_updates (tracking_code, id_lookup, state, submitted_at, updated_at) VALUES (?, ?, 'submitted', ?, ?)`,
        [trackingCode, this.options.identity.lookupHash(secrets.idNumber), at, at],
      );
      tx.emit({ type: 'update.submitted', body: { trackingCode, sealed } });
    });
    const printed = await this.printReceipt(meter, 'update', trackingCode);
    return { type: 'update-submitted', op, trackingCode, printed };
  }

  /**
   * Prints a receipt; true only when the printer confirmed it (its status after the last byte).
   * A printer fault is logged and does not undo what was recorded: the screen then shows the code
   * large for the citizen to note instead of saying "printed".
   */
  private async printReceipt(
    meter: WaitMeter,
    kind: ReceiptFacts['kind'],
    reference: string,
  ): Promise<boolean> {
    const printer = this.options.devices.printer;
    if (!printer) return false;
    const { id: kioskId, site } = this.options.kiosk ?? { id: 'kiosk' };
    const facts = { kind, kioskId, ...(site ? { site } : {}), at: new Date(this.now()), reference };
    try {
      const confirmation = await meter.wait(printer.print(composeReceipt(facts, printer.profile.columns)));
      return confirmation.confirmed;
    } catch (error) {
      this.options.log.warn({ err: errorText(error) }, 'sessions: receipt not printed');
      return false;
    }
  }
}

/** Counts the time one effect spends waiting on devices and the link (not the kiosk's own time). */
class WaitMeter {
  waited = 0;

  async wait<T>(promise: Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await promise;
    } finally {
      this.waited += performance.now() - started;
    }
  }

  /** The chip's answers are device time; the kiosk's crypto (BAC, SM, PA, AA checks) is its own. */
  transport(inner: CardTransport): CardTransport {
    return { transmit: (command) => this.wait(inner.transmit(command)), close: () => inner.close() };
  }
}

/** 8 characters of Crockford base32: short enough to read out, enough not to guess. */
function randomCode(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  return [...randomBytes(8)].map((byte) => alphabet[byte & 31]).join('');
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

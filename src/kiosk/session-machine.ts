/**
 * The citizen sessions (card pickup and data update) as one pure reducer:
 * `reduce(state, event, now) → { state, effects }`. It does no I/O and reads no clock: the
 * orchestrator (session.ts) executes the effects against the devices, the store and the link, and
 * feeds their outcomes back as events. Every wait has an explicit timer in the state; every async
 * effect carries an operation number (`op`) and outcomes of an older operation are ignored, so a
 * late answer can never move a session that has moved on.
 *
 * The dispense rule (issue 6): the card goes to the tray only from `checking-card` on a
 * `card-checked` event, and only if the session holds a fingerprint match AND the chip's DG1
 * equals the citizen's staged MRZ AND passive authentication passed AND Active Authentication
 * passed (`mayDispense`). test/unit/kiosk/session-machine.property.test.ts checks it over random
 * sequences of events.
 */
import { CccdError, parseIdNumber, parseQr } from '../cccd/index.js';
import { checkContactChanges } from './contact-rules.js';
import type { Screen, SessionView, UiInput } from './view.js';

export interface SessionTimeouts {
  /** no input on a citizen screen → back to attract, secrets purged */
  idleMs: number;
  /** one finger attempt (the sensor waits this long for a finger) */
  fingerAttemptMs: number;
  /** card in the tray not taken → retracted to the capture bin */
  trayTakeMs: number;
  /** how long receipt, referral and status screens stay before attract */
  resultMs: number;
}

/**
 * WCAG 2.2 §2.2.1 (timing adjustable): before a time limit ends a step the kiosk asks "need more
 * time?" for `MORE_TIME_ASK_MS`, and a touch extends the step, at least `MORE_TIME_EXTENSIONS`
 * times per session, by at least `MORE_TIME_MIN_MS` each (20 s is the criterion's response time).
 */
export const MORE_TIME_ASK_MS = 20_000;
export const MORE_TIME_MIN_MS = 20_000;
export const MORE_TIME_EXTENSIONS = 10;
/** How long a finger attempt's result stays on the screen before the next attempt can start. */
export const FINGER_RESULT_MS = 2000;
/** Timers whose end would end a citizen's step: each is announced with "need more time?". */
const EXTENDABLE_TIMERS: ReadonlySet<string> = new Set(['idle', 'finger', 'tray']);

export interface SessionSettings {
  timeouts: SessionTimeouts;
  /** finger attempts in one session (the persisted per-pickup count may leave fewer) */
  maxFingerAttempts: number;
  /**
   * Identification attempts (typed IDs, scanned codes) this kiosk accepts per window, whoever makes
   * them: bounds how fast anyone can probe IDs at the touchscreen. Undefined: no limit.
   */
  identifyRateLimit?: { attempts: number; windowMs: number };
  /** devices a session needs; any of them missing → out of service */
  neededDevices: readonly string[];
}

export type Phase =
  | 'attract'
  | 'out-of-service'
  | 'identify'
  | 'looking-up'
  | 'finger'
  | 'checking-card'
  | 'presenting'
  | 'take-card'
  | 'completing'
  | 'parking'
  | 'receipt'
  | 'referral'
  | 'update-identify'
  | 'update-identifying'
  | 'update-record'
  | 'update-edit'
  | 'update-confirm'
  | 'update-submitting'
  | 'update-done'
  | 'update-status'
  | 'status-lookup'
  | 'status-checking';

export type ContactChanges = NonNullable<SessionView['record']>;
export type Gazetteer = NonNullable<SessionView['gazetteer']>;
export type UpdateStatus = NonNullable<SessionView['updateStatus']>;

/** The four checks of the dispense rule, as this session has established them. */
export interface DispenseChecks {
  fingerMatched: boolean;
  dg1Matches: boolean;
  passiveAuth: boolean;
  activeAuth: boolean;
}

export type PickupFault =
  'chip-mismatch' | 'passive-auth-failed' | 'active-auth-failed' | 'chip-unreadable' | 'device';

export interface SessionState {
  phase: Phase;
  flow: 'pickup' | 'update' | null;
  /** the current async operation; outcomes carrying another op are stale */
  op: number;
  timer?: { name: string; endsAt: number; totalMs: number };
  pickup?: { pickupId: string; slot: number };
  maskedId?: string;
  attemptsLeft?: number;
  checks: DispenseChecks;
  messageKey?: string;
  receiptCode?: string;
  trackingCode?: string;
  record?: ContactChanges;
  gazetteer?: Gazetteer;
  changes?: ContactChanges;
  updateStatus?: UpdateStatus;
  /** where a parked card goes and what the session shows afterwards */
  parking?: {
    to: 'slot' | 'bin';
    then: 'referral' | 'out-of-service' | 'attract';
    /** the referral's reason, when `then` is referral */
    messageKey?: string;
  };
  /** the finger of a missed attempt must leave the sensor before the next attempt */
  awaitingLift?: boolean;
  /** "need more time?" is on the screen; `resume` is the timer that ran out */
  moreTime?: { resume: string };
  /** how many times this session's time limits were extended */
  extensions?: number;
  /** the reference staff look up for a referral (logged with the reason) */
  referenceCode?: string;
  /** the printer confirmed the receipt (GS r after the last byte) */
  receiptPrinted?: boolean;
  missing: string[];
  storeAccepts: boolean;
  /** locked by operations (`lock` command): sessions in progress finish, no new one starts */
  locked: boolean;
  /** a card left outside its slot after a failed park: no new session until staff clear it */
  cardAdrift: boolean;
  /** when the identification attempts of the current rate-limit window were made (kept across sessions) */
  identifyAttempts: number[];
}

export type SessionEvent =
  | { type: 'ui'; input: UiInput }
  | { type: 'scan'; text: string }
  | { type: 'timeout'; timer: string }
  | { type: 'device'; device: string; present: boolean }
  | { type: 'store'; acceptsNewSessions: boolean }
  | { type: 'lock'; locked: boolean }
  /**
   * The outcome of an identification. `found` only for a real pickup; without it the session goes
   * to the finger step all the same (a decoy that never matches), so the screens never tell
   * whether a card waits. `attemptsLeft`: what the persisted failed-finger count leaves (0: locked).
   */
  | {
      type: 'lookup-result';
      op: number;
      found?: { pickupId: string; slot: number; maskedId?: string };
      maskedId?: string;
      attemptsLeft?: number;
    }
  | { type: 'update-identified'; op: number; maskedId?: string }
  | { type: 'finger-result'; op: number; result: 'matched' | 'no-match' }
  | {
      type: 'finger-verified-online';
      op: number;
      matched: boolean;
      record?: ContactChanges;
      gazetteer?: Gazetteer;
    }
  | { type: 'card-checked'; op: number; dg1Matches: boolean; passiveAuth: boolean; activeAuth: boolean }
  | { type: 'card-unreadable'; op: number }
  /** the registry withdrew the pickup during the session: the card stays in (or goes back to) its slot */
  | { type: 'withdrawn'; op: number }
  | { type: 'presented'; op: number }
  | { type: 'taken' }
  | { type: 'completed'; op: number; receiptCode: string; printed: boolean }
  /** the finger of a missed attempt left the sensor, and its result was shown long enough */
  | { type: 'finger-lifted'; op: number }
  /** the orchestrator logged a referral under this reference */
  | { type: 'referred'; op: number; reference: string }
  | { type: 'parked'; op: number; ok: boolean }
  | { type: 'update-submitted'; op: number; trackingCode: string; printed: boolean }
  | { type: 'status-result'; op: number; status?: UpdateStatus }
  /** a device command of the current operation failed (disconnected, jammed, timed out) */
  | { type: 'device-fault'; op: number; device: string }
  /** the registry did not answer in time */
  | { type: 'remote-unavailable'; op: number }
  /** every card is back in a known place (recovery after a stuck card or a restart) */
  | { type: 'vault-safe' };

export type ParkReason = 'not-taken' | 'device-fault' | 'check-failed' | 'withdrawn';

export type SessionEffect =
  | { kind: 'timer'; name: string; ms: number }
  | { kind: 'clear-timer' }
  /** drop every unsealed secret of the session from memory; cancel device waits */
  | { kind: 'purge' }
  | { kind: 'lookup-pickup'; op: number; by: 'id' | 'code'; value: string }
  | { kind: 'identify-update'; op: number; qrText: string }
  | { kind: 'verify-finger'; op: number; timeoutMs: number }
  | { kind: 'verify-finger-online'; op: number; timeoutMs: number }
  /** show the attempt's result for `showMs`, and wait until the finger is off the sensor */
  | { kind: 'await-lift'; op: number; showMs: number; timeoutMs: number }
  /** stop waiting on the devices (the finger sensor's polling) without dropping secrets */
  | { kind: 'stop-waits' }
  /** log a referral to staff under a new reference code (answered with `referred`) */
  | { kind: 'refer'; op: number; reason: string; pickupId?: string }
  | { kind: 'fetch-card'; op: number; pickupId: string; slot: number }
  | { kind: 'present'; op: number; pickupId: string; slot: number; checks: DispenseChecks }
  | { kind: 'complete'; op: number; pickupId: string; slot: number }
  | {
      kind: 'park';
      op: number;
      pickupId: string;
      slot: number;
      to: 'slot' | 'bin';
      reason: ParkReason;
      fault?: PickupFault;
    }
  | { kind: 'submit-update'; op: number; changes: ContactChanges }
  | { kind: 'ask-status'; op: number; trackingCode: string };

export interface Transition {
  state: SessionState;
  effects: SessionEffect[];
}

const NO_CHECKS: DispenseChecks = {
  fingerMatched: false,
  dg1Matches: false,
  passiveAuth: false,
  activeAuth: false,
};

export function initialState(): SessionState {
  return {
    phase: 'attract',
    flow: null,
    op: 0,
    checks: NO_CHECKS,
    missing: [],
    storeAccepts: true,
    locked: false,
    cardAdrift: false,
    identifyAttempts: [],
  };
}

/** The dispense rule: all four checks, nothing less. */
export function mayDispense(checks: DispenseChecks): boolean {
  return checks.fingerMatched && checks.dg1Matches && checks.passiveAuth && checks.activeAuth;
}

/** Phases in which a card is outside its slot (at the station or in the tray). */
const CARD_OUT: ReadonlySet<Phase> = new Set(['checking-card', 'presenting', 'take-card']);
/** Phases waiting for a citizen's input: the idle timer runs, `touch` restarts it. */
const IDLE_PHASES: ReadonlySet<Phase> = new Set([
  'identify',
  'status-lookup',
  'update-identify',
  'update-record',
  'update-edit',
  'update-confirm',
]);
const RESULT_PHASES: ReadonlySet<Phase> = new Set(['receipt', 'referral', 'update-done', 'update-status']);

/** 12 digits with a known province code (cccd-facts.md §2): a typo is told at once, not after a look-up. */
function validIdNumber(value: string): boolean {
  try {
    parseIdNumber(value);
    return true;
  } catch (error) {
    if (error instanceof CccdError) return false;
    throw error;
  }
}

export function reduce(
  state: SessionState,
  event: SessionEvent,
  now: number,
  settings: SessionSettings,
): Transition {
  const r = new Reduction(state, now, settings);
  r.apply(event);
  return { state: r.state, effects: r.effects };
}

class Reduction {
  readonly effects: SessionEffect[] = [];

  constructor(
    public state: SessionState,
    private readonly now: number,
    private readonly settings: SessionSettings,
  ) {}

  private set(patch: Partial<SessionState>): void {
    this.state = { ...this.state, ...patch };
  }

  private nextOp(): number {
    const op = this.state.op + 1;
    this.set({ op });
    return op;
  }

  private arm(name: string, ms: number): void {
    this.set({ timer: { name, endsAt: this.now + ms, totalMs: ms } });
    this.effects.push({ kind: 'timer', name, ms });
  }

  private disarm(): void {
    if (this.state.timer) this.effects.push({ kind: 'clear-timer' });
    const { timer: _timer, ...rest } = this.state;
    this.state = rest;
  }

  /** Enters a phase, clearing the per-screen fields that do not carry over. */
  private enter(phase: Phase, patch: Partial<SessionState> = {}): void {
    this.disarm();
    const { messageKey: _m, moreTime: _t, awaitingLift: _l, ...rest } = this.state;
    this.state = { ...rest, phase, ...patch };
    if (IDLE_PHASES.has(phase)) this.arm('idle', this.settings.timeouts.idleMs);
    else if (RESULT_PHASES.has(phase)) this.arm('result', this.settings.timeouts.resultMs);
  }

  /** Back to attract (or out of service): every secret and every citizen field dropped. */
  private endSession(): void {
    this.disarm();
    this.effects.push({ kind: 'purge' });
    const { missing, storeAccepts, locked, cardAdrift, op, identifyAttempts } = this.state;
    this.state = {
      ...initialState(),
      missing,
      storeAccepts,
      locked,
      cardAdrift,
      identifyAttempts,
      op: op + 1,
    };
    this.settleIdle();
  }

  /** Attract when every needed device is there and the store accepts sessions; else out of service. */
  private settleIdle(): void {
    const { phase, missing, storeAccepts, locked, cardAdrift } = this.state;
    if (phase !== 'attract' && phase !== 'out-of-service') return;
    const usable = missing.length === 0 && storeAccepts && !locked && !cardAdrift;
    this.set({ phase: usable ? 'attract' : 'out-of-service' });
  }

  private startFinger(flow: 'pickup' | 'update', atLeastMs = 0): void {
    const attemptsLeft = this.state.attemptsLeft ?? this.settings.maxFingerAttempts;
    this.enter('finger', { attemptsLeft });
    const op = this.nextOp();
    const timeoutMs = Math.max(this.settings.timeouts.fingerAttemptMs, atLeastMs);
    this.arm('finger', timeoutMs);
    this.effects.push(
      flow === 'pickup'
        ? { kind: 'verify-finger', op, timeoutMs }
        : { kind: 'verify-finger-online', op, timeoutMs },
    );
  }

  private park(
    to: 'slot' | 'bin',
    reason: ParkReason,
    then: 'referral' | 'out-of-service' | 'attract',
    fault?: PickupFault,
    messageKey?: string,
  ): void {
    const pickup = this.state.pickup;
    if (!pickup) return this.endSession();
    this.enter('parking', { parking: { to, then, ...(messageKey ? { messageKey } : {}) } });
    const op = this.nextOp();
    this.effects.push({ kind: 'park', op, ...pickup, to, reason, ...(fault ? { fault } : {}) });
  }

  /**
   * Sends the citizen to staff: secrets dropped, the reason on the screen, and a reference code
   * (asked of the orchestrator, which logs it with the reason) that staff can look up.
   */
  private refer(messageKey: string, pickupId?: string): void {
    this.effects.push({ kind: 'purge' });
    this.enter('referral', { messageKey, pickup: undefined, referenceCode: undefined });
    this.effects.push({
      kind: 'refer',
      op: this.state.op,
      reason: messageKey,
      ...(pickupId ? { pickupId } : {}),
    });
  }

  apply(event: SessionEvent): void {
    const { state } = this;
    if ('op' in event && event.op !== state.op) return; // stale outcome of an abandoned operation
    switch (event.type) {
      case 'device':
        return this.onDevice(event.device, event.present);
      case 'store':
        this.set({ storeAccepts: event.acceptsNewSessions });
        return this.settleIdle();
      case 'lock':
        this.set({ locked: event.locked });
        return this.settleIdle();
      case 'timeout':
        return this.onTimeout(event.timer);
      case 'ui':
        return this.onUi(event.input);
      case 'scan':
        return this.onScan(event.text);
      case 'lookup-result':
        if (state.phase !== 'looking-up') return;
        return this.onLookupResult(event);
      case 'update-identified':
        if (state.phase !== 'update-identifying') return;
        if (!event.maskedId)
          return this.enter('update-identify', { messageKey: 'update.card-not-recognised' });
        this.set({ maskedId: event.maskedId });
        return this.startFinger('update');
      case 'finger-result':
        if (state.phase !== 'finger' || state.flow !== 'pickup' || state.awaitingLift) return;
        if (event.result === 'matched') {
          this.set({ checks: { ...NO_CHECKS, fingerMatched: true } });
          const pickup = state.pickup;
          if (!pickup) return this.endSession();
          this.enter('checking-card');
          const op = this.nextOp();
          this.effects.push({ kind: 'fetch-card', op, ...pickup });
          return;
        }
        return this.fingerMissed();
      case 'finger-verified-online':
        if (state.phase !== 'finger' || state.flow !== 'update' || state.awaitingLift) return;
        if (!event.matched) return this.fingerMissed();
        this.set({ checks: { ...NO_CHECKS, fingerMatched: true } });
        return this.enter('update-record', {
          ...(event.record ? { record: event.record } : {}),
          ...(event.gazetteer ? { gazetteer: event.gazetteer } : {}),
        });
      case 'remote-unavailable':
        if (state.phase === 'finger' || state.phase === 'update-submitting')
          return this.refer('referral.registry-unreachable');
        if (state.phase === 'update-identifying')
          return this.enter('update-identify', { messageKey: 'update.registry-unreachable' });
        return;
      case 'card-checked': {
        if (state.phase !== 'checking-card' || !state.pickup) return;
        const checks: DispenseChecks = {
          fingerMatched: state.checks.fingerMatched,
          dg1Matches: event.dg1Matches,
          passiveAuth: event.passiveAuth,
          activeAuth: event.activeAuth,
        };
        this.set({ checks });
        if (mayDispense(checks)) {
          this.enter('presenting');
          const op = this.nextOp();
          this.effects.push({ kind: 'present', op, ...state.pickup, checks });
          return;
        }
        const fault: PickupFault = !checks.dg1Matches
          ? 'chip-mismatch'
          : !checks.passiveAuth
            ? 'passive-auth-failed'
            : !checks.activeAuth
              ? 'active-auth-failed'
              : 'chip-mismatch';
        return this.park('slot', 'check-failed', 'referral', fault, 'referral.card-check-failed');
      }
      case 'card-unreadable':
        if (state.phase !== 'checking-card') return;
        return this.park('slot', 'check-failed', 'referral', 'chip-unreadable', 'referral.card-check-failed');
      case 'withdrawn':
        // before the move to the chip station the card never left its slot; after it, it goes back
        if (state.phase === 'checking-card')
          return this.refer('referral.pickup-withdrawn', state.pickup?.pickupId);
        if (state.phase !== 'presenting') return;
        return this.park('slot', 'withdrawn', 'referral', undefined, 'referral.pickup-withdrawn');
      case 'presented':
        if (state.phase !== 'presenting') return;
        this.enter('take-card');
        this.arm('tray', this.settings.timeouts.trayTakeMs);
        return;
      case 'taken': {
        if (state.phase !== 'take-card' || !state.pickup) return;
        this.enter('completing');
        const op = this.nextOp();
        this.effects.push({ kind: 'complete', op, ...state.pickup });
        return;
      }
      case 'completed':
        if (state.phase !== 'completing') return;
        this.effects.push({ kind: 'purge' });
        return this.enter('receipt', {
          receiptCode: event.receiptCode,
          receiptPrinted: event.printed,
          checks: NO_CHECKS,
          pickup: undefined,
        });
      case 'parked': {
        if (state.phase !== 'parking' || !state.parking) return;
        const { then, messageKey } = state.parking;
        const pickupId = state.pickup?.pickupId;
        this.set({ parking: undefined, pickup: undefined, checks: NO_CHECKS });
        if (!event.ok) {
          // the card could not be brought to safety: staff must look; no session until then
          this.set({ cardAdrift: true });
          this.endSession();
          this.set({ messageKey: 'out-of-service.card-stuck' });
          return;
        }
        if (then === 'referral') return this.refer(messageKey ?? 'referral.card-check-failed', pickupId);
        return this.endSession();
      }
      case 'device-fault':
        return this.onFault(event.device);
      case 'vault-safe':
        this.set({ cardAdrift: false });
        return this.settleIdle();
      case 'update-submitted':
        if (state.phase !== 'update-submitting') return;
        this.effects.push({ kind: 'purge' });
        return this.enter('update-done', {
          trackingCode: event.trackingCode,
          receiptPrinted: event.printed,
          record: undefined,
          gazetteer: undefined,
        });
      case 'status-result':
        if (state.phase !== 'status-checking') return;
        // an unknown code stays on the look-up screen, with the reason, for the citizen to correct
        if (!event.status) return this.enter('status-lookup', { messageKey: 'update.status-unknown' });
        return this.enter('update-status', { updateStatus: event.status });
      case 'finger-lifted':
        if (state.phase !== 'finger' || !state.awaitingLift) return;
        this.startFinger(state.flow === 'update' ? 'update' : 'pickup');
        this.set({ messageKey: 'finger.try-again' });
        return;
      case 'referred':
        if (state.phase !== 'referral') return;
        this.set({ referenceCode: event.reference });
        return;
    }
  }

  /**
   * Issue 12 (touchscreen): a known and an unknown ID lead to the same screens. Both go to the finger
   * step with the attempts their persisted failure count leaves; a locked pickup (or a decoy ID
   * that failed as often) goes straight to staff, again the same for both.
   */
  private onLookupResult(event: Extract<SessionEvent, { type: 'lookup-result' }>): void {
    const max = this.settings.maxFingerAttempts;
    const attemptsLeft = Math.min(max, event.attemptsLeft ?? max);
    if (attemptsLeft <= 0) return this.refer('referral.finger-attempts', event.found?.pickupId);
    const maskedId = event.found?.maskedId ?? event.maskedId;
    this.set({
      pickup: event.found ? { pickupId: event.found.pickupId, slot: event.found.slot } : undefined,
      ...(maskedId ? { maskedId } : {}),
      attemptsLeft,
    });
    this.startFinger('pickup');
  }

  /**
   * The per-kiosk limit on identification attempts (issue 12): true, with the screen saying so,
   * when the window is full; otherwise the attempt is counted.
   */
  private rateLimited(): boolean {
    const limit = this.settings.identifyRateLimit;
    if (!limit) return false;
    const recent = this.state.identifyAttempts.filter((at) => at > this.now - limit.windowMs);
    if (recent.length >= limit.attempts) {
      this.enter('identify', { identifyAttempts: recent, messageKey: 'identify.rate-limited' });
      return true;
    }
    this.set({ identifyAttempts: [...recent, this.now] });
    return false;
  }

  /**
   * A missed attempt: its result stays on the screen for `FINGER_RESULT_MS`, and the next attempt
   * starts only once the finger has left the sensor (`finger-lifted`).
   */
  private fingerMissed(): void {
    const attemptsLeft = (this.state.attemptsLeft ?? 1) - 1;
    this.set({ attemptsLeft });
    if (attemptsLeft <= 0) return this.refer('referral.finger-attempts', this.state.pickup?.pickupId);
    this.awaitLift();
  }

  private awaitLift(): void {
    this.enter('finger', { awaitingLift: true, messageKey: 'finger.no-match' });
    const op = this.nextOp();
    const timeoutMs = this.settings.timeouts.fingerAttemptMs;
    this.arm('finger', timeoutMs);
    this.effects.push({ kind: 'await-lift', op, showMs: FINGER_RESULT_MS, timeoutMs });
  }

  /** A step's time limit ran out: ask "need more time?" first, while extensions remain. */
  private askMoreTime(name: string): boolean {
    if (!EXTENDABLE_TIMERS.has(name) || (this.state.extensions ?? 0) >= MORE_TIME_EXTENSIONS) return false;
    // the finger sensor stops polling while the question is on the screen
    if (name === 'finger') this.effects.push({ kind: 'stop-waits' });
    this.set({ moreTime: { resume: name } });
    this.arm('more-time', MORE_TIME_ASK_MS);
    return true;
  }

  /** A touch on "need more time?": the step starts again with at least `MORE_TIME_MIN_MS`. */
  private extend(): void {
    const resume = this.state.moreTime?.resume;
    if (!resume) return;
    const { timeouts } = this.settings;
    this.set({ moreTime: undefined, extensions: (this.state.extensions ?? 0) + 1 });
    if (resume === 'finger') {
      const messageKey = this.state.messageKey;
      if (this.state.awaitingLift) return this.awaitLift();
      this.startFinger(this.state.flow === 'update' ? 'update' : 'pickup', MORE_TIME_MIN_MS);
      if (messageKey) this.set({ messageKey });
      return;
    }
    const base = resume === 'tray' ? timeouts.trayTakeMs : timeouts.idleMs;
    this.arm(resume, Math.max(base, MORE_TIME_MIN_MS));
  }

  private onFault(device: string): void {
    const { phase } = this.state;
    if (phase === 'parking') {
      // parking itself failed: the orchestrator reports `parked { ok: false }` for that
      return;
    }
    if (CARD_OUT.has(phase)) {
      const to = phase === 'checking-card' ? 'slot' : 'bin';
      return this.park(to, 'device-fault', 'out-of-service', 'device');
    }
    if (phase === 'attract' || phase === 'out-of-service') return;
    // a needed device that failed is missing until its health says otherwise; any other failure
    // (the runtime's own) ends this session only
    if (this.settings.neededDevices.includes(device))
      this.set({ missing: [...new Set([...this.state.missing, device])].sort() });
    this.endSession();
  }

  private onDevice(device: string, present: boolean): void {
    if (!this.settings.neededDevices.includes(device)) return;
    const missing = new Set(this.state.missing);
    if (present) missing.delete(device);
    else missing.add(device);
    this.set({ missing: [...missing].sort() });
    if (!present) {
      // a needed device went away mid-session: bring any card to safety, then out of service
      const { phase } = this.state;
      if (CARD_OUT.has(phase))
        return this.park(
          phase === 'checking-card' ? 'slot' : 'bin',
          'device-fault',
          'out-of-service',
          'device',
        );
      if (phase !== 'attract' && phase !== 'out-of-service' && phase !== 'parking' && phase !== 'completing')
        return this.endSession();
    }
    this.settleIdle();
  }

  private onTimeout(name: string): void {
    const { timer, phase, moreTime } = this.state;
    if (!timer || timer.name !== name) return; // a timer of an earlier screen
    const { timer: _t, ...rest } = this.state;
    this.state = rest;
    let expired = name;
    if (name === 'more-time' && moreTime) {
      // no answer to "need more time?": the step's own limit ends it now
      expired = moreTime.resume;
      this.set({ moreTime: undefined });
    } else if (this.askMoreTime(name)) return;
    if (expired === 'tray' && phase === 'take-card')
      return this.park('bin', 'not-taken', 'referral', undefined, 'referral.card-retracted');
    this.endSession();
  }

  private onUi(input: UiInput): void {
    const { phase } = this.state;
    switch (input.type) {
      case 'start':
        if (phase !== 'attract') return;
        if (input.flow === 'status') {
          this.set({ flow: 'update', op: this.state.op + 1 });
          return this.enter('status-lookup');
        }
        this.set({ flow: input.flow, op: this.state.op + 1 });
        return this.enter(input.flow === 'pickup' ? 'identify' : 'update-identify');
      case 'touch':
      case 'more-time':
        if (this.state.moreTime) return this.extend();
        if (IDLE_PHASES.has(phase)) this.arm('idle', this.settings.timeouts.idleMs);
        return;
      case 'cancel':
        if (CARD_OUT.has(phase) || phase === 'parking' || phase === 'completing') return; // mechanics first
        if (phase === 'attract' || phase === 'out-of-service') return;
        return this.endSession();
      case 'enter-id': {
        if (phase !== 'identify') return;
        const idNumber = input.idNumber.replace(/\s/g, '');
        if (!validIdNumber(idNumber)) return this.enter('identify', { messageKey: 'identify.invalid-id' });
        if (this.rateLimited()) return;
        this.enter('looking-up');
        const op = this.nextOp();
        this.effects.push({ kind: 'lookup-pickup', op, by: 'id', value: idNumber });
        return;
      }
      case 'confirm':
        if (phase === 'update-record') return this.enter('update-edit');
        if (phase === 'update-confirm' && this.state.changes) {
          this.enter('update-submitting');
          const op = this.nextOp();
          this.effects.push({ kind: 'submit-update', op, changes: this.state.changes });
          return;
        }
        if (RESULT_PHASES.has(phase)) return this.endSession();
        return;
      case 'edit': {
        if (phase !== 'update-record' && phase !== 'update-edit') return;
        // the page validates before it sends; this is the kiosk's own check of what it forwards
        const checked = checkContactChanges(input.fields);
        if (!checked.ok) return this.enter('update-edit', { messageKey: checked.messageKey });
        return this.enter('update-confirm', { changes: checked.changes });
      }
      case 'back':
        if (phase === 'update-edit') return this.enter('update-record');
        if (phase === 'update-confirm') return this.enter('update-edit');
        return;
      case 'ask-status': {
        if (phase !== 'attract' && phase !== 'update-identify' && phase !== 'status-lookup') return;
        const trackingCode = input.trackingCode.trim().toUpperCase();
        if (!trackingCode) return this.enter('status-lookup', { messageKey: 'update.status-empty' });
        this.set({ flow: 'update' });
        this.enter('status-checking');
        const op = this.nextOp();
        this.effects.push({ kind: 'ask-status', op, trackingCode });
        return;
      }
    }
  }

  private onScan(text: string): void {
    const { phase } = this.state;
    if (phase === 'identify') {
      if (this.rateLimited()) return;
      // the card's own front QR (CCCD QR payload) is looked up by the ID number it carries
      const idNumber = idNumberOfCardQr(text);
      this.enter('looking-up');
      const op = this.nextOp();
      this.effects.push(
        idNumber
          ? { kind: 'lookup-pickup', op, by: 'id', value: idNumber }
          : { kind: 'lookup-pickup', op, by: 'code', value: text.trim() },
      );
      return;
    }
    if (phase === 'update-identify') {
      this.enter('update-identifying');
      const op = this.nextOp();
      this.effects.push({ kind: 'identify-update', op, qrText: text });
    }
  }
}

function idNumberOfCardQr(text: string): string | undefined {
  try {
    return parseQr(text).idNumber;
  } catch (error) {
    if (error instanceof CccdError) return undefined;
    throw error;
  }
}

const SCREEN_OF: Readonly<Record<Phase, Screen>> = {
  attract: 'attract',
  'out-of-service': 'out-of-service',
  identify: 'identify',
  'looking-up': 'identify',
  finger: 'finger',
  'checking-card': 'checking-card',
  presenting: 'checking-card',
  'take-card': 'take-card',
  completing: 'take-card',
  parking: 'checking-card',
  receipt: 'receipt',
  referral: 'referral',
  'update-identify': 'update-identify',
  'update-identifying': 'update-identify',
  'update-record': 'update-record',
  'update-edit': 'update-edit',
  'update-confirm': 'update-confirm',
  'update-submitting': 'update-confirm',
  'update-done': 'update-done',
  'update-status': 'update-status',
  'status-lookup': 'status-lookup',
  'status-checking': 'status-lookup',
};

/** What the touchscreen shows for a state (src/kiosk/view.ts). Never the full ID number. */
export function viewOf(state: SessionState, seq: number): SessionView {
  const screen = SCREEN_OF[state.phase];
  const view: SessionView = { seq, screen, flow: state.flow };
  if (state.maskedId) view.maskedId = state.maskedId;
  if (state.phase === 'finger' && state.attemptsLeft !== undefined) view.attemptsLeft = state.attemptsLeft;
  // a referral counts down visibly too: the citizen sees how long the reference stays
  if (state.timer && (state.timer.name !== 'result' || state.phase === 'referral'))
    view.countdown = { endsAt: state.timer.endsAt, totalMs: state.timer.totalMs };
  if (state.moreTime) view.moreTime = true;
  if (state.phase === 'finger' && state.awaitingLift) view.liftFinger = true;
  if (state.phase === 'referral' && state.referenceCode) view.referenceCode = state.referenceCode;
  if ((state.phase === 'receipt' || state.phase === 'update-done') && state.receiptPrinted !== undefined)
    view.receiptPrinted = state.receiptPrinted;
  if (state.messageKey) view.messageKey = state.messageKey;
  if (state.phase === 'parking') view.messageKey = 'card.returning';
  if (state.phase === 'receipt' && state.receiptCode) view.receiptCode = state.receiptCode;
  if (state.phase === 'update-done' && state.trackingCode) view.trackingCode = state.trackingCode;
  if (state.flow === 'update' && state.record && state.phase.startsWith('update-'))
    view.record =
      state.changes && state.phase === 'update-confirm'
        ? { ...state.record, ...state.changes }
        : state.record;
  if (state.gazetteer && (state.phase === 'update-edit' || state.phase === 'update-record'))
    view.gazetteer = state.gazetteer;
  if (state.phase === 'update-status' && state.updateStatus) view.updateStatus = state.updateStatus;
  if (state.phase === 'checking-card') view.progress = { step: 'read', done: 1, total: 3 };
  if (state.phase === 'presenting') view.progress = { step: 'match', done: 3, total: 3 };
  if (state.phase === 'out-of-service')
    view.outOfService = {
      reasonKey: state.cardAdrift
        ? 'out-of-service.card-stuck'
        : state.locked
          ? 'out-of-service.locked'
          : !state.storeAccepts
            ? 'out-of-service.storage'
            : 'out-of-service.device-missing',
      devices: state.missing,
    };
  return view;
}

/** The screen shows no more of the ID than the logs do: "001195012345" → "001*******45". */
export { maskIdNumber } from '../util/pii.js';

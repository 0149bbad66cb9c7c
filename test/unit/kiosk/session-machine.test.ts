import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  initialState,
  maskIdNumber,
  mayDispense,
  reduce,
  type SessionEffect,
  type SessionEvent,
  type SessionSettings,
  type SessionState,
  viewOf,
} from '../../../src/kiosk/session-machine.js';

const settings: SessionSettings = {
  timeouts: { idleMs: 60_000, fingerAttemptMs: 15_000, trayTakeMs: 30_000, resultMs: 10_000 },
  maxFingerAttempts: 3,
  neededDevices: ['fingerprint', 'dispenser'],
};

function run(events: SessionEvent[], start = initialState()) {
  let state = start;
  const effects: SessionEffect[] = [];
  let now = 0;
  for (const event of events) {
    now += 10;
    const t = reduce(state, event, now, settings);
    state = t.state;
    effects.push(...t.effects);
  }
  return { state, effects };
}

/** Feeds `event`, filling in the op of the state's current operation (as the orchestrator would). */
function withOp(state: SessionState, event: SessionEvent): SessionEvent {
  return 'op' in event ? ({ ...event, op: state.op } as SessionEvent) : event;
}

function drive(events: SessionEvent[]) {
  let state = initialState();
  const effects: SessionEffect[] = [];
  for (const event of events) {
    const t = reduce(state, withOp(state, event), 0, settings);
    state = t.state;
    effects.push(...t.effects);
  }
  return { state, effects };
}

const found = { pickupId: 'p-1', slot: 2, maskedId: '001*******45' };
const toChecking: SessionEvent[] = [
  { type: 'ui', input: { type: 'start', flow: 'pickup' } },
  { type: 'ui', input: { type: 'enter-id', idNumber: '001195012345' } },
  { type: 'lookup-result', op: 0, found },
  { type: 'finger-result', op: 0, result: 'matched' },
];

describe('pickup session reducer', () => {
  it('walks a pickup: identify → finger → card checked → presented → taken → receipt → attract', () => {
    const { state, effects } = drive([
      ...toChecking,
      { type: 'card-checked', op: 0, dg1Matches: true, passiveAuth: true, activeAuth: true },
      { type: 'presented', op: 0 },
      { type: 'taken' },
      { type: 'completed', op: 0, receiptCode: 'R-1', printed: true },
    ]);
    expect(state.phase).toBe('receipt');
    expect(viewOf(state, 1)).toMatchObject({ screen: 'receipt', receiptCode: 'R-1' });
    expect(effects.map((e) => e.kind)).toEqual(
      expect.arrayContaining([
        'lookup-pickup',
        'verify-finger',
        'fetch-card',
        'present',
        'complete',
        'purge',
      ]),
    );
    const back = drive([]);
    expect(back.state.phase).toBe('attract');
  });

  it('three wrong fingers → referral, no card fetched', () => {
    const { state, effects } = drive([
      ...toChecking.slice(0, 3),
      { type: 'finger-result', op: 0, result: 'no-match' },
      { type: 'finger-lifted', op: 0 },
      { type: 'finger-result', op: 0, result: 'no-match' },
      { type: 'finger-lifted', op: 0 },
      { type: 'finger-result', op: 0, result: 'no-match' },
    ]);
    expect(state.phase).toBe('referral');
    expect(state.messageKey).toBe('referral.finger-attempts');
    expect(effects.filter((e) => e.kind === 'verify-finger')).toHaveLength(3);
    expect(effects.some((e) => e.kind === 'fetch-card' || e.kind === 'present')).toBe(false);
  });

  it('a chip that does not match the citizen goes back to its slot with a fault', () => {
    const { state, effects } = drive([
      ...toChecking,
      { type: 'card-checked', op: 0, dg1Matches: false, passiveAuth: true, activeAuth: true },
    ]);
    expect(state.phase).toBe('parking');
    expect(effects.at(-1)).toMatchObject({ kind: 'park', to: 'slot', fault: 'chip-mismatch', slot: 2 });
    const after = drive([
      ...toChecking,
      { type: 'card-checked', op: 0, dg1Matches: false, passiveAuth: true, activeAuth: true },
      { type: 'parked', op: 0, ok: true },
    ]);
    expect(after.state.phase).toBe('referral');
  });

  it('a pickup withdrawn before the card moved → referral, the card never leaves its slot', () => {
    const { state, effects } = drive([...toChecking, { type: 'withdrawn', op: 0 }]);
    expect(state.phase).toBe('referral');
    expect(state.messageKey).toBe('referral.pickup-withdrawn');
    expect(effects.some((e) => e.kind === 'park' || e.kind === 'present')).toBe(false);
  });

  it('a pickup withdrawn after the chip check → the card goes back to its slot, then referral', () => {
    const checked: SessionEvent[] = [
      ...toChecking,
      { type: 'card-checked', op: 0, dg1Matches: true, passiveAuth: true, activeAuth: true },
      { type: 'withdrawn', op: 0 },
    ];
    const parking = drive(checked);
    expect(parking.effects.at(-1)).toMatchObject({ kind: 'park', to: 'slot', reason: 'withdrawn', slot: 2 });
    const after = drive([...checked, { type: 'parked', op: 0, ok: true }]);
    expect(after.state.phase).toBe('referral');
    expect(after.state.messageKey).toBe('referral.pickup-withdrawn');
    expect(after.effects.some((e) => e.kind === 'complete')).toBe(false);
  });

  it('the tray timer retracts the card to the capture bin', () => {
    const events: SessionEvent[] = [
      ...toChecking,
      { type: 'card-checked', op: 0, dg1Matches: true, passiveAuth: true, activeAuth: true },
      { type: 'presented', op: 0 },
      { type: 'timeout', timer: 'tray' },
      { type: 'timeout', timer: 'more-time' },
    ];
    const { state, effects } = drive(events);
    expect(state.phase).toBe('parking');
    expect(effects.at(-1)).toMatchObject({ kind: 'park', to: 'bin', reason: 'not-taken' });
  });

  it('a needed device unplugged with the card in the tray → card to the bin, then out of service', () => {
    const { state, effects } = drive([
      ...toChecking,
      { type: 'card-checked', op: 0, dg1Matches: true, passiveAuth: true, activeAuth: true },
      { type: 'presented', op: 0 },
      { type: 'device', device: 'fingerprint', present: false },
      { type: 'parked', op: 0, ok: true },
    ]);
    expect(effects.find((e) => e.kind === 'park')).toMatchObject({ to: 'bin', reason: 'device-fault' });
    expect(state.phase).toBe('out-of-service');
    expect(viewOf(state, 1).outOfService).toEqual({
      reasonKey: 'out-of-service.device-missing',
      devices: ['fingerprint'],
    });
  });

  it('the store refusing sessions → out of service; accepting again → attract', () => {
    expect(run([{ type: 'store', acceptsNewSessions: false }]).state.phase).toBe('out-of-service');
    expect(
      run([
        { type: 'store', acceptsNewSessions: false },
        { type: 'store', acceptsNewSessions: true },
      ]).state.phase,
    ).toBe('attract');
  });

  it('a lock by operations lets the session in progress finish, then keeps the kiosk out of service', () => {
    const locked = run([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'lock', locked: true },
    ]).state;
    expect(locked.phase).toBe('identify');
    const after = run([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'lock', locked: true },
      { type: 'ui', input: { type: 'cancel' } },
    ]).state;
    expect(after.phase).toBe('out-of-service');
    expect(viewOf(after, 1).outOfService?.reasonKey).toBe('out-of-service.locked');
    expect(
      run([
        { type: 'lock', locked: true },
        { type: 'lock', locked: false },
      ]).state.phase,
    ).toBe('attract');
  });

  it('idle timeout purges the session and returns to attract', () => {
    const { state, effects } = drive([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'timeout', timer: 'idle' },
      { type: 'timeout', timer: 'more-time' },
    ]);
    expect(state.phase).toBe('attract');
    expect(effects.at(-1)).toEqual({ kind: 'purge' });
  });

  it('stale outcomes of an abandoned operation are ignored', () => {
    const { state } = run([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'ui', input: { type: 'enter-id', idNumber: '001195012345' } },
      { type: 'lookup-result', op: 0, found },
    ]);
    expect(state.phase).toBe('looking-up');
  });

  it('a typed ID that is not a CCCD number is refused before any look-up', () => {
    for (const idNumber of ['12345', '195012345', '000195012345']) {
      const { state, effects } = drive([
        { type: 'ui', input: { type: 'start', flow: 'pickup' } },
        { type: 'ui', input: { type: 'enter-id', idNumber } },
      ]);
      expect(state).toMatchObject({ phase: 'identify', messageKey: 'identify.invalid-id' });
      expect(effects.some((effect) => effect.kind === 'lookup-pickup')).toBe(false);
    }
  });

  it("a failure of the runtime's own ends the session without taking the kiosk out of service", () => {
    const { state } = drive([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'ui', input: { type: 'enter-id', idNumber: '001195012345' } },
      { type: 'device-fault', op: 0, device: 'runtime' },
    ]);
    expect(state).toMatchObject({ phase: 'attract', missing: [] });
  });

  it('masks ID numbers', () => {
    expect(maskIdNumber('001195012345')).toBe('001*******45');
  });
});

// ---- issue 15: a kiosk every citizen can use, and that tells the truth ----------------------

const toTray: SessionEvent[] = [
  ...toChecking,
  { type: 'card-checked', op: 0, dg1Matches: true, passiveAuth: true, activeAuth: true },
  { type: 'presented', op: 0 },
];

describe('finger attempts wait for the finger to be lifted', () => {
  it('a missed attempt shows its result and waits for the lift before the next attempt', () => {
    const missed = drive([...toChecking.slice(0, 3), { type: 'finger-result', op: 0, result: 'no-match' }]);
    expect(missed.state).toMatchObject({ phase: 'finger', awaitingLift: true, attemptsLeft: 2 });
    expect(viewOf(missed.state, 1)).toMatchObject({ liftFinger: true, messageKey: 'finger.no-match' });
    expect(missed.effects.at(-1)).toMatchObject({ kind: 'await-lift', showMs: 2000 });
    // a finger still lying there: no new attempt is started by anything but the lift
    expect(missed.effects.filter((e) => e.kind === 'verify-finger')).toHaveLength(1);
    const lifted = drive([
      ...toChecking.slice(0, 3),
      { type: 'finger-result', op: 0, result: 'no-match' },
      { type: 'finger-lifted', op: 0 },
    ]);
    expect(lifted.state).toMatchObject({ phase: 'finger', messageKey: 'finger.try-again' });
    expect(lifted.state.awaitingLift).toBeUndefined();
    expect(lifted.effects.filter((e) => e.kind === 'verify-finger')).toHaveLength(2);
  });

  it('a result arriving while the kiosk waits for the lift is not counted', () => {
    const { state } = drive([
      ...toChecking.slice(0, 3),
      { type: 'finger-result', op: 0, result: 'no-match' },
      { type: 'finger-result', op: 0, result: 'no-match' },
    ]);
    expect(state.attemptsLeft).toBe(2);
  });
});

describe('"need more time?" before a time limit ends a step (WCAG 2.2.1)', () => {
  it('asks before the finger step ends, stops the sensor, and a touch restarts the attempt with ≥ 20 s', () => {
    const asked = drive([...toChecking.slice(0, 3), { type: 'timeout', timer: 'finger' }]);
    expect(asked.state).toMatchObject({ phase: 'finger', moreTime: { resume: 'finger' } });
    expect(asked.state.timer).toMatchObject({ name: 'more-time', totalMs: 20_000 });
    expect(viewOf(asked.state, 1).moreTime).toBe(true);
    expect(asked.effects.at(-2)).toEqual({ kind: 'stop-waits' });
    const extended = drive([
      ...toChecking.slice(0, 3),
      { type: 'timeout', timer: 'finger' },
      { type: 'ui', input: { type: 'touch' } },
    ]);
    expect(extended.state.moreTime).toBeUndefined();
    expect(extended.state.extensions).toBe(1);
    expect(extended.state.timer).toMatchObject({ name: 'finger', totalMs: 20_000 });
    expect(extended.effects.at(-1)).toMatchObject({ kind: 'verify-finger', timeoutMs: 20_000 });
    expect(extended.state.attemptsLeft).toBe(3); // the time ran out, no attempt was used
  });

  it('extends at least 10 times, each by at least 20 s; unanswered, the step ends', () => {
    const events: SessionEvent[] = [{ type: 'ui', input: { type: 'start', flow: 'pickup' } }];
    for (let i = 0; i < 10; i++)
      events.push({ type: 'timeout', timer: 'idle' }, { type: 'ui', input: { type: 'more-time' } });
    const { state } = drive(events);
    expect(state).toMatchObject({ phase: 'identify', extensions: 10 });
    expect(state.timer?.totalMs).toBeGreaterThanOrEqual(20_000);
    const unanswered = drive([
      ...events.slice(0, 1),
      { type: 'timeout', timer: 'idle' },
      { type: 'timeout', timer: 'more-time' },
    ]);
    expect(unanswered.state.phase).toBe('attract');
  });

  it('the card in the tray: asked first; taken while asked completes the pickup', () => {
    const asked = drive([...toTray, { type: 'timeout', timer: 'tray' }]);
    expect(asked.state).toMatchObject({ phase: 'take-card', moreTime: { resume: 'tray' } });
    const taken = drive([...toTray, { type: 'timeout', timer: 'tray' }, { type: 'taken' }]);
    expect(taken.state.phase).toBe('completing');
    expect(taken.state.moreTime).toBeUndefined();
  });
});

describe('truthful screens', () => {
  it('a card not taken is retracted and the referral says so, with a reference code and a countdown', () => {
    const { state, effects } = drive([
      ...toTray,
      { type: 'timeout', timer: 'tray' },
      { type: 'timeout', timer: 'more-time' },
      { type: 'parked', op: 0, ok: true },
      { type: 'referred', op: 0, reference: 'S-ABCD1234' },
    ]);
    expect(effects.find((e) => e.kind === 'park')).toMatchObject({ to: 'bin', reason: 'not-taken' });
    expect(effects.find((e) => e.kind === 'refer')).toMatchObject({
      reason: 'referral.card-retracted',
      pickupId: 'p-1',
    });
    const view = viewOf(state, 1);
    expect(view).toMatchObject({
      screen: 'referral',
      messageKey: 'referral.card-retracted',
      referenceCode: 'S-ABCD1234',
    });
    expect(view.countdown?.totalMs).toBe(settings.timeouts.resultMs);
  });

  it('"printed" only when the printer confirmed the receipt', () => {
    const done = (printed: boolean) =>
      viewOf(
        drive([...toTray, { type: 'taken' }, { type: 'completed', op: 0, receiptCode: 'R-1', printed }])
          .state,
        1,
      );
    expect(done(true).receiptPrinted).toBe(true);
    expect(done(false)).toMatchObject({ receiptPrinted: false, receiptCode: 'R-1' });
  });

  it('an unknown tracking code stays on the look-up screen with the reason', () => {
    const { state } = drive([
      { type: 'ui', input: { type: 'start', flow: 'status' } },
      { type: 'ui', input: { type: 'ask-status', trackingCode: 'u-nope' } },
      { type: 'status-result', op: 0 },
    ]);
    expect(viewOf(state, 1)).toMatchObject({ screen: 'status-lookup', messageKey: 'update.status-unknown' });
    const asked = drive([
      { type: 'ui', input: { type: 'start', flow: 'status' } },
      { type: 'ui', input: { type: 'ask-status', trackingCode: ' u-nope ' } },
    ]);
    expect(asked.effects.at(-1)).toMatchObject({ kind: 'ask-status', trackingCode: 'U-NOPE' });
  });

  it("the card's front QR on the pickup screen is looked up by its ID number", () => {
    const qr = '001195012345|123456789|Nguyễn Thị A|01011995|Nữ|Hà Nội|01012021';
    const { effects } = drive([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'scan', text: qr },
    ]);
    expect(effects.at(-1)).toMatchObject({ kind: 'lookup-pickup', by: 'id', value: '001195012345' });
    const code = drive([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'scan', text: 'PICKUP-123' },
    ]);
    expect(code.effects.at(-1)).toMatchObject({ kind: 'lookup-pickup', by: 'code', value: 'PICKUP-123' });
  });

  it('the kiosk checks a phone number and an e-mail address before forwarding them', () => {
    const toEdit: SessionEvent[] = [
      { type: 'ui', input: { type: 'start', flow: 'update' } },
      { type: 'scan', text: '001195012345|||' },
      { type: 'update-identified', op: 0, maskedId: '001*******45' },
      { type: 'finger-verified-online', op: 0, matched: true },
    ];
    const bad = drive([
      ...toEdit,
      { type: 'ui', input: { type: 'edit', fields: { email: 'not-an-email' } } },
    ]);
    expect(bad.state).toMatchObject({ phase: 'update-edit', messageKey: 'update.invalid-email' });
    const phone = drive([...toEdit, { type: 'ui', input: { type: 'edit', fields: { phone: '0123' } } }]);
    expect(phone.state).toMatchObject({ phase: 'update-edit', messageKey: 'update.invalid-phone' });
    const ok = drive([...toEdit, { type: 'ui', input: { type: 'edit', fields: { phone: '0911 222 333' } } }]);
    expect(ok.state).toMatchObject({ phase: 'update-confirm', changes: { phone: '0911222333' } });
  });
});

// ---- property: never dispensed without all four checks --------------------------------------

const uiInput = fc.oneof(
  fc.constantFrom('pickup', 'update').map((flow) => ({ type: 'start', flow }) as const),
  fc
    .constantFrom('001195012345', '12', '079203000123')
    .map((idNumber) => ({ type: 'enter-id', idNumber }) as const),
  fc.constantFrom(
    { type: 'confirm' } as const,
    { type: 'back' } as const,
    { type: 'cancel' } as const,
    { type: 'touch' } as const,
    { type: 'more-time' } as const,
  ),
  fc.record({ phone: fc.constant('0912345678') }).map((fields) => ({ type: 'edit', fields }) as const),
);

/** Random events; `op` is either the current one (a live outcome) or a stale one. */
const eventArb: fc.Arbitrary<{ event: SessionEvent; live: boolean }> = fc.record({
  live: fc.boolean(),
  event: fc.oneof(
    uiInput.map((input) => ({ type: 'ui', input }) as SessionEvent),
    fc.constantFrom('CODE-1', '001195012345|||').map((text) => ({ type: 'scan', text }) as SessionEvent),
    fc
      .constantFrom('idle', 'finger', 'tray', 'result', 'more-time')
      .map((timer) => ({ type: 'timeout', timer }) as SessionEvent),
    fc
      .record({ device: fc.constantFrom('fingerprint', 'dispenser', 'printer'), present: fc.boolean() })
      .map((d) => ({ type: 'device', ...d }) as SessionEvent),
    fc.boolean().map((acceptsNewSessions) => ({ type: 'store', acceptsNewSessions }) as SessionEvent),
    fc.boolean().map((locked) => ({ type: 'lock', locked }) as SessionEvent),
    fc
      .option(fc.constant(found), { nil: undefined })
      .map((f) => ({ type: 'lookup-result', op: 0, ...(f ? { found: f } : {}) }) as SessionEvent),
    fc
      .constantFrom('matched', 'no-match')
      .map((result) => ({ type: 'finger-result', op: 0, result }) as SessionEvent),
    fc.boolean().map((matched) => ({ type: 'finger-verified-online', op: 0, matched }) as SessionEvent),
    fc
      .record({ dg1Matches: fc.boolean(), passiveAuth: fc.boolean(), activeAuth: fc.boolean() })
      .map((c) => ({ type: 'card-checked', op: 0, ...c }) as SessionEvent),
    fc.constant({ type: 'card-unreadable', op: 0 } as SessionEvent),
    fc.constant({ type: 'presented', op: 0 } as SessionEvent),
    fc.constant({ type: 'taken' } as SessionEvent),
    fc.constant({ type: 'completed', op: 0, receiptCode: 'R', printed: true } as SessionEvent),
    fc.boolean().map((ok) => ({ type: 'parked', op: 0, ok }) as SessionEvent),
    fc.constant({ type: 'device-fault', op: 0, device: 'dispenser' } as SessionEvent),
    fc.constant({ type: 'remote-unavailable', op: 0 } as SessionEvent),
    fc.constant({ type: 'finger-lifted', op: 0 } as SessionEvent),
    fc.constant({ type: 'referred', op: 0, reference: 'S-1' } as SessionEvent),
    fc.constant({ type: 'update-identified', op: 0, maskedId: '001*******45' } as SessionEvent),
  ),
});

describe('session reducer properties', () => {
  it('no sequence dispenses without finger match, DG1 match, passive and active authentication', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), (steps) => {
        let state = initialState();
        // what the world has actually established, independent of the reducer's own bookkeeping
        let fingerMatchedThisSession = false;
        let lastCard: { dg1Matches: boolean; passiveAuth: boolean; activeAuth: boolean } | undefined;
        let now = 0;
        for (const { event, live } of steps) {
          const fed: SessionEvent =
            'op' in event ? ({ ...event, op: live ? state.op : state.op - 1 } as SessionEvent) : event;
          const accepted = 'op' in fed ? fed.op === state.op : true;
          if (accepted && fed.type === 'finger-result' && state.phase === 'finger' && state.flow === 'pickup')
            fingerMatchedThisSession = fed.result === 'matched';
          if (accepted && fed.type === 'card-checked' && state.phase === 'checking-card') lastCard = fed;
          now += 7;
          const before = state;
          const t = reduce(state, fed, now, settings);
          state = t.state;
          for (const effect of t.effects) {
            if (effect.kind === 'purge') fingerMatchedThisSession = false;
            if (effect.kind !== 'present') continue;
            expect(before.phase).toBe('checking-card');
            expect(fingerMatchedThisSession).toBe(true);
            expect(lastCard).toEqual({ dg1Matches: true, passiveAuth: true, activeAuth: true });
            expect(mayDispense(effect.checks)).toBe(true);
          }
          if (state.phase === 'take-card') expect(mayDispense(state.checks)).toBe(true);
          // the screen never shows a full ID number
          expect(JSON.stringify(viewOf(state, 0))).not.toMatch(/\d{12}/);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 3000) },
    );
  });

  it('a card outside its slot is always parked or dispensed before the session shows attract', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), (steps) => {
        let state = initialState();
        for (const { event, live } of steps) {
          const fed: SessionEvent =
            'op' in event ? ({ ...event, op: live ? state.op : state.op - 1 } as SessionEvent) : event;
          const before = state.phase;
          state = reduce(state, fed, 0, settings).state;
          if (['checking-card', 'presenting', 'take-card'].includes(before))
            expect(['checking-card', 'presenting', 'take-card', 'completing', 'parking']).toContain(
              state.phase,
            );
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 3000) },
    );
  });
});

// ---- issue 12: at the touchscreen ---------------------------------------------------------------

describe('identification reveals nothing before the finger matched', () => {
  const screensOf = (lookup: SessionEvent) => {
    const events: SessionEvent[] = [
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'ui', input: { type: 'enter-id', idNumber: '001195012345' } },
      lookup,
      { type: 'finger-result', op: 0, result: 'no-match' },
      { type: 'finger-lifted', op: 0 },
      { type: 'finger-result', op: 0, result: 'no-match' },
      { type: 'finger-lifted', op: 0 },
      { type: 'finger-result', op: 0, result: 'no-match' },
    ];
    let state = initialState();
    const views = [];
    for (const event of events) {
      state = reduce(state, withOp(state, event), 0, settings).state;
      const { seq: _seq, countdown: _countdown, ...view } = viewOf(state, 0);
      views.push(view);
    }
    return views;
  };

  it('a staged ID and an unknown ID walk the same screens: finger step, misses, referral', () => {
    const staged = screensOf({
      type: 'lookup-result',
      op: 0,
      found: { pickupId: 'p-1', slot: 2, maskedId: '001*******45' },
      attemptsLeft: 5,
    });
    const unknown = screensOf({ type: 'lookup-result', op: 0, maskedId: '001*******45', attemptsLeft: 5 });
    expect(unknown).toEqual(staged);
    expect(staged.map((view) => view.screen)).toEqual([
      'identify',
      'identify',
      'finger',
      'finger',
      'finger',
      'finger',
      'finger',
      'referral',
    ]);
  });

  it('a pickup whose persisted count is spent goes straight to staff, as a spent decoy does', () => {
    const locked = screensOf({ type: 'lookup-result', op: 0, found, attemptsLeft: 0 });
    const decoy = screensOf({ type: 'lookup-result', op: 0, maskedId: '001*******45', attemptsLeft: 0 });
    expect(locked).toEqual(decoy);
    expect(locked.at(2)).toMatchObject({ screen: 'referral', messageKey: 'referral.finger-attempts' });
  });

  it('a session gets only the attempts the persisted count leaves', () => {
    const { state } = drive([
      { type: 'ui', input: { type: 'start', flow: 'pickup' } },
      { type: 'ui', input: { type: 'enter-id', idNumber: '001195012345' } },
      { type: 'lookup-result', op: 0, found, attemptsLeft: 1 },
    ]);
    expect(viewOf(state, 1)).toMatchObject({ screen: 'finger', attemptsLeft: 1 });
  });
});

describe('identification rate limit', () => {
  const limited: SessionSettings = { ...settings, identifyRateLimit: { attempts: 2, windowMs: 60_000 } };

  it('refuses the attempt over the limit, across sessions, until the window has passed', () => {
    let state = initialState();
    const lookups: number[] = [];
    const attempt = (now: number) => {
      for (const event of [
        { type: 'ui', input: { type: 'start', flow: 'pickup' } },
        { type: 'ui', input: { type: 'enter-id', idNumber: '001195012345' } },
      ] as SessionEvent[]) {
        const t = reduce(state, event, now, limited);
        state = t.state;
        if (t.effects.some((effect) => effect.kind === 'lookup-pickup')) lookups.push(now);
      }
      const phase = state.phase;
      state = reduce(state, { type: 'ui', input: { type: 'cancel' } }, now, limited).state;
      return phase;
    };
    expect(attempt(1000)).toBe('looking-up');
    expect(attempt(2000)).toBe('looking-up');
    expect(attempt(3000)).toBe('identify');
    expect(attempt(61_500)).toBe('looking-up');
    expect(lookups).toEqual([1000, 2000, 61_500]);
  });

  it('tells the citizen why', () => {
    let state = initialState();
    for (const now of [1, 2, 3]) {
      state = reduce(state, { type: 'ui', input: { type: 'start', flow: 'pickup' } }, now, limited).state;
      state = reduce(state, { type: 'scan', text: 'CODE-1' }, now, limited).state;
      if (now < 3) state = reduce(state, { type: 'ui', input: { type: 'cancel' } }, now, limited).state;
    }
    expect(viewOf(state, 1)).toMatchObject({ screen: 'identify', messageKey: 'identify.rate-limited' });
  });
});

import { describe, expect, it } from 'vitest';
import { FaultLog, MAX_RECENT_FAULTS } from '../../../src/link/telemetry.js';
import { checkPushableSettings, InvalidSettings } from '../../../src/fleet/index.js';

describe('FaultLog', () => {
  it('keeps the most recent fault codes, newest last, and skips a repeat of the last one', () => {
    const log = new FaultLog();
    log.note('device.printer.missing', 1000);
    log.note('device.printer.missing', 2000);
    log.note('store.full', 3000);
    expect(log.recent).toEqual([
      { code: 'device.printer.missing', at: new Date(1000).toISOString() },
      { code: 'store.full', at: new Date(3000).toISOString() },
    ]);
  });

  it(`holds at most ${MAX_RECENT_FAULTS}`, () => {
    const log = new FaultLog();
    for (let index = 0; index < 50; index++) log.note(`device.d${index}.degraded`, index);
    expect(log.recent).toHaveLength(MAX_RECENT_FAULTS);
    expect(log.recent.at(-1)?.code).toBe('device.d49.degraded');
  });
});

describe('checkPushableSettings (kiosk-ops, before signing)', () => {
  it('accepts settings the kiosk config schema accepts', () => {
    expect(() => checkPushableSettings({ timeouts: { requestMs: 7000 } })).not.toThrow();
  });

  it.each([
    ['not an object', []],
    ['a wrong type', { timeouts: { requestMs: 'soon' } }],
    ['an unknown key', { timeout: { requestMs: 1000 } }],
    ['the identity', { kiosk: { id: 'hn-0002' } }],
    ['the keys that authorise pushes', { fleet: { opsPublicKeys: [] } }],
  ])('refuses %s', (_name, settings) => {
    expect(() => checkPushableSettings(settings)).toThrow(InvalidSettings);
  });
});

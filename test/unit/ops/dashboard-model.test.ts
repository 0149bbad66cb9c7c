import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ActivityLog } from '../../../src/ops/dashboard/activity.js';
import { FleetModel } from '../../../src/ops/dashboard/fleet-model.js';
import type { TelemetryBody } from '../../../src/link/messages.js';

const T0 = '2026-11-30T10:00:00.000Z';
const T1 = '2026-11-30T10:01:00.000Z';

function telemetry(overrides: Partial<TelemetryBody> = {}): TelemetryBody {
  return {
    trigger: 'interval',
    uptimeSeconds: 60,
    parts: { store: { state: 'up' }, 'devices.printer': { state: 'down', detail: 'no answer' } },
    queue: { depth: 4, oldestAgeSeconds: 12 },
    inventory: { 'in-slot': 7 },
    versions: { software: '0.2.0', config: { fleet: 1, kiosk: 3 } },
    service: { inService: false, locked: true, reasons: ['locked by operations'] },
    faults: [
      { code: 'store.full', at: T0 },
      { code: 'device.printer.missing', at: T1 },
    ],
    ...overrides,
  };
}

describe('FleetModel (the dashboard picture of the fleet)', () => {
  it('folds a status and then telemetry into one row: versions, lock and why, queue, inventory, unwell parts, last fault', () => {
    const model = new FleetModel();
    model.applyStatus('hn-0001', { online: true, version: '0.1.0', locked: false }, T0);
    model.applyTelemetry('hn-0001', telemetry(), T1);
    const [row] = model.rows();
    expect(row).toMatchObject({
      id: 'hn-0001',
      online: true,
      lastSeen: T1,
      software: '0.2.0',
      config: { fleet: 1, kiosk: 3 },
      locked: true,
      inService: false,
      reasons: ['locked by operations'],
      queue: 4,
      queueOldest: 12,
      inventory: { 'in-slot': 7 },
      unwell: ['devices.printer: down'],
      lastFault: 'device.printer.missing',
    });
    expect(model.detail('hn-0001')?.faults).toHaveLength(2);
  });

  it('keeps what a last will leaves out, and an older message does not move last seen back', () => {
    const model = new FleetModel();
    model.applyStatus(
      'hn-0001',
      { online: true, version: '0.1.0', locked: true, outOfService: 'locked' },
      T1,
    );
    model.applyStatus('hn-0001', { online: false }, T0);
    const [row] = model.rows();
    expect(row).toMatchObject({
      online: false,
      software: '0.1.0',
      locked: true,
      reasons: ['locked'],
      lastSeen: T1,
    });
  });

  it('hands out each change once per batch, removed kiosks by id', () => {
    const model = new FleetModel();
    model.applyStatus('hn-0001', { online: true }, T0);
    model.applyStatus('hn-0002', { online: true }, T0);
    model.applyStatus('hn-0001', { online: false }, T1);
    expect(
      model
        .takeChanges()
        .rows.map((row) => row.id)
        .sort(),
    ).toEqual(['hn-0001', 'hn-0002']);
    expect(model.takeChanges()).toEqual({ rows: [], removed: [] });
    model.remove('hn-0002');
    expect(model.takeChanges()).toEqual({ rows: [], removed: ['hn-0002'] });
  });

  it('finds the highest config versions of a set of kiosks (the next version to push)', () => {
    const model = new FleetModel();
    model.applyStatus('hn-0001', { online: true, configVersions: { fleet: 2, kiosk: 5 } }, T0);
    model.applyStatus('hn-0002', { online: true, configVersions: { fleet: 4, kiosk: 1 } }, T0);
    expect(model.highestConfig()).toEqual({ fleet: 4, kiosk: 5 });
    expect(model.highestConfig(['hn-0002', 'hn-9999'])).toEqual({ fleet: 4, kiosk: 1 });
  });

  it('any sequence of statuses and telemetry leaves one consistent row per kiosk', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.constantFrom('aa-001', 'bb-002', 'cc-003'),
            online: fc.boolean(),
            locked: fc.option(fc.boolean(), { nil: undefined }),
            telemetry: fc.boolean(),
            minute: fc.integer({ min: 0, max: 59 }),
          }),
        ),
        (events) => {
          const model = new FleetModel();
          for (const event of events) {
            const ts = `2026-11-30T10:${String(event.minute).padStart(2, '0')}:00.000Z`;
            if (event.telemetry) model.applyTelemetry(event.id, telemetry(), ts);
            else model.applyStatus(event.id, { online: event.online, locked: event.locked }, ts);
          }
          const rows = model.rows();
          expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);
          for (const row of rows) expect(row.inService && row.reasons.length > 0).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ActivityLog (what operators did and what kiosks answered)', () => {
  it('settles a command by its correlationId and a config by its message id and kiosk; ignores others', () => {
    const log = new ActivityLog(() => Date.parse(T0));
    log.record({ operator: 'alice', action: 'lock', kioskId: 'hn-0001', ref: 'corr-1' });
    log.record({ operator: 'alice', action: 'config v2', kioskId: 'hn-0002', ref: 'cfg-1' });
    log.takeChanges();
    log.commandAnswered('corr-1', { name: 'lock', status: 'ok' });
    log.commandAnswered('someone-elses', { name: 'lock', status: 'failed' });
    log.configAnswered('hn-0003', { version: 2, configId: 'cfg-1', status: 'applied' });
    log.configAnswered('hn-0002', { version: 2, configId: 'cfg-1', status: 'refused', reason: 'not-newer' });
    expect(log.all().map((entry) => [entry.kioskId, entry.state, entry.detail])).toEqual([
      ['hn-0001', 'ok', undefined],
      ['hn-0002', 'refused', 'not-newer'],
    ]);
    expect(log.takeChanges()).toHaveLength(2);
  });
});

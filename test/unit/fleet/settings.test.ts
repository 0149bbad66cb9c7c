import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import {
  changedPaths,
  effectiveConfig,
  InvalidSettings,
  mergeSettings,
  requiresRestart,
} from '../../../src/fleet/settings.js';

const base = parseConfig({ kiosk: { id: 'hn-0001' }, mqtt: { url: 'mqtt://localhost:1883' } }, 'test');

describe('pushed settings take the file path', () => {
  it('reads the restart mark from the schema meta, through optional, default and nested objects', () => {
    expect(requiresRestart('ui.port')).toBe(true);
    expect(requiresRestart('mqtt.url')).toBe(true);
    expect(requiresRestart('store.synchronous')).toBe(true);
    expect(requiresRestart('devices.scanner')).toBe(true); // adding or removing a device
    expect(requiresRestart('devices.scanner.enabled')).toBe(true);
    expect(requiresRestart('devices.scanner.path')).toBe(false); // the deepest mark wins: reopens
    expect(requiresRestart('mqtt.tls.ca')).toBe(false);
    expect(requiresRestart('mqtt.tls')).toBe(false);
    expect(requiresRestart('timeouts.requestMs')).toBe(false);
    expect(requiresRestart('log.level')).toBe(false);
    expect(requiresRestart('fleet.rollbackAfterMs')).toBe(true);
    expect(requiresRestart('no.such.setting')).toBe(true); // never assumed live
  });

  it('layers settings over the file and validates with the one schema', () => {
    const config = effectiveConfig(base, [{ timeouts: { requestMs: 2000 } }, { log: { level: 'warn' } }]);
    expect(config.timeouts).toMatchObject({ requestMs: 2000, shutdownMs: 2500 });
    expect(config.log.level).toBe('warn');
    expect(changedPaths(base, config).sort()).toEqual(['log.level', 'timeouts.requestMs']);
    expect(() => effectiveConfig(base, [{ timeouts: { requestMs: 1 } }])).toThrow(InvalidSettings);
    expect(() => effectiveConfig(base, [{ nonsense: true }])).toThrow(InvalidSettings);
    expect(() => effectiveConfig(base, [{ fleet: { opsPublicKeys: [] } }])).toThrow(
      'fleet.opsPublicKeys cannot be pushed',
    );
    expect(() => effectiveConfig(base, [{ dataDir: '/tmp/elsewhere' }])).toThrow('dataDir cannot be pushed');
    // trust anchors stay as provisioning laid them down
    expect(() => effectiveConfig(base, [{ sessions: { trustList: '/tmp/my-cscas.pem' } }])).toThrow(
      'sessions.trustList cannot be pushed',
    );
    expect(() => effectiveConfig(base, [{ update: { installRoot: '/tmp/root' } }])).toThrow(
      'update.installRoot cannot be pushed',
    );
  });

  it('never throws anything but InvalidSettings for arbitrary pushed JSON', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), (settings) => {
        try {
          effectiveConfig(base, [settings]);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidSettings);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });

  it('merge keeps what the overlay does not name and ignores prototype keys', () => {
    const merged = mergeSettings(
      { a: { b: 1, c: 2 }, d: [1] },
      JSON.parse('{"a":{"b":3},"d":[2],"__proto__":{"x":1}}'),
    );
    expect(merged).toEqual({ a: { b: 3, c: 2 }, d: [2] });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { settingClass, settingPaths } from '../../../src/fleet/settings.js';
import { appliersOf, LIVE_APPLIERS } from '../../../src/runtime/live-config.js';

describe('every setting is live or restart-required, deliberately (issue 13)', () => {
  const paths = settingPaths();

  it('walks the whole schema', () => {
    expect(paths).toContain('kiosk.id');
    expect(paths).toContain('mqtt.tls.cert');
    expect(paths).toContain('devices.gpio.inputs.tamper.bcm');
    expect(paths).toContain('sessions.identifyRateLimit.windowMs');
    expect(paths.length).toBeGreaterThan(80);
  });

  it('classifies each leaf of the schema', () => {
    const unmarked = paths.filter((path) => settingClass(path) === 'unmarked');
    expect(unmarked).toEqual([]);
  });

  it('has a part that takes each live setting', () => {
    const orphans = paths.filter((path) => settingClass(path) === 'live' && appliersOf(path).length === 0);
    expect(orphans).toEqual([]);
  });

  it('applies live only what the schema marks live', () => {
    const claimed = LIVE_APPLIERS.flatMap((applier) => applier.settings);
    const restartOnes = claimed.filter((path) => settingClass(path) !== 'live');
    expect(restartOnes).toEqual([]);
  });

  it('keeps identity, storage and trust settings for the restart', () => {
    for (const path of ['kiosk.id', 'mqtt.url', 'dataDir', 'store.synchronous', 'sessions.trustList'])
      expect(settingClass(path)).toBe('restart');
    for (const path of ['timeouts.sessionIdleMs', 'log.level', 'mqtt.tls.cert', 'devices.scanner.baudRate'])
      expect(settingClass(path)).toBe('live');
  });
});

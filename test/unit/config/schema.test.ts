import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyEnvOverrides,
  ConfigError,
  envSettings,
  loadConfigFile,
  parseConfig,
} from '../../../src/config/index.js';

const minimal = { kiosk: { id: 'hn-0001' }, mqtt: { url: 'mqtts://broker.example:8883' } };

function problemsOf(input: unknown): string[] {
  try {
    parseConfig(input, 'test');
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration schema', () => {
  it('fills defaults for a minimal file', () => {
    const config = parseConfig(minimal, 'test');
    expect(config.ui).toEqual({
      host: '127.0.0.1',
      port: 8080,
      hostNames: [],
      speech: { enabled: true, volume: 100, wordsPerMinute: 150 },
    });
    expect(config.sessions).toMatchObject({ fingerAttempts: 3, fingerLockAfter: 5 });
    expect(config.sessions.identifyRateLimit).toEqual({ attempts: 10, windowMs: 60_000 });
    expect(config.mqtt.protocolVersion).toBe(5);
    expect(config.timeouts.shutdownMs).toBe(2500);
    expect(config.log.sensitive).toBe(false);
  });

  it('names the field and the reason for a bad baud rate', () => {
    const problems = problemsOf({
      ...minimal,
      devices: { fingerprint: { path: '/dev/ttyS0', baudRate: 'fast' } },
    });
    expect(problems).toEqual(['devices.fingerprint.baudRate: expected one of 9600…115200, got "fast"']);
  });

  it('reports a missing required field, an unknown key and a bad kiosk id together', () => {
    const problems = problemsOf({ kiosk: { id: 'HN 1' }, dataDir: '/tmp', colour: 'blue' });
    expect(problems).toContain('colour: unknown setting');
    expect(problems.some((line) => line.startsWith('kiosk.id: expected 3–63 lowercase'))).toBe(true);
    expect(problems.some((line) => line.startsWith('mqtt: expected object'))).toBe(true);
  });

  it('refuses a UI bound anywhere but loopback', () => {
    const problems = problemsOf({ ...minimal, ui: { host: '0.0.0.0', port: 80 } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^ui\.host: /);
  });
});

describe('environment overrides', () => {
  it('derives one variable per leaf setting from the schema', () => {
    const variables = envSettings().map((setting) => setting.variable);
    expect(variables).toContain('KIOSK_MQTT_URL');
    expect(variables).toContain('KIOSK_DEVICES_FINGERPRINT_BAUD_RATE');
    expect(variables).toContain('KIOSK_TIMEOUTS_SESSION_IDLE_MS');
    expect(new Set(variables).size).toBe(variables.length);
  });

  it('overrides strings as text and numbers as numbers', () => {
    const merged = applyEnvOverrides(minimal, {
      KIOSK_MQTT_URL: 'mqtt://127.0.0.1:1883',
      KIOSK_UI_PORT: '9090',
      KIOSK_KIOSK_SITE: '001',
    });
    const config = parseConfig(merged, 'test');
    expect(config.mqtt.url).toBe('mqtt://127.0.0.1:1883');
    expect(config.ui.port).toBe(9090);
    expect(config.kiosk.site).toBe('001');
  });

  it('reports a bad override with the field it sets', () => {
    const merged = applyEnvOverrides(minimal, {
      KIOSK_DEVICES_SCANNER_PATH: '/dev/x',
      KIOSK_DEVICES_SCANNER_BAUD_RATE: 'fast',
    });
    expect(problemsOf(merged)).toEqual(['devices.scanner.baudRate: expected one of 9600…115200, got "fast"']);
  });
});

describe('loading a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));

  it('reads, overrides and validates', async () => {
    const file = join(dir, 'good.json');
    writeFileSync(file, JSON.stringify(minimal));
    const config = await loadConfigFile(file, { KIOSK_LOG_LEVEL: 'debug' });
    expect(config.log.level).toBe('debug');
  });

  it('says when the file is not JSON or not there', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "kiosk": ');
    await expect(loadConfigFile(file, {})).rejects.toThrow(/not valid JSON/);
    await expect(loadConfigFile(join(dir, 'absent.json'), {})).rejects.toThrow(/cannot read it \(ENOENT\)/);
  });

  it('takes the registry keys from the file provisioning wrote, validated like inline keys', async () => {
    const keys = { signing: `${'A'.repeat(42)}E=`, sealing: `${'B'.repeat(42)}E=` };
    const keysFile = join(dir, 'registry-keys.json');
    writeFileSync(keysFile, JSON.stringify(keys));
    const file = join(dir, 'with-keys-file.json');
    writeFileSync(file, JSON.stringify(minimal));
    const config = await loadConfigFile(file, { KIOSK_FLEET_REGISTRY_KEYS_FILE: keysFile });
    expect([config.fleet.registrySigningKey, config.fleet.registrySealingKey]).toEqual([
      keys.signing,
      keys.sealing,
    ]);
    writeFileSync(keysFile, JSON.stringify({ signing: 'not a key', sealing: keys.sealing }));
    await expect(loadConfigFile(file, { KIOSK_FLEET_REGISTRY_KEYS_FILE: keysFile })).rejects.toThrow(
      /fleet\.registrySigningKey/,
    );
    const absent = join(dir, 'absent-keys.json');
    await expect(loadConfigFile(file, { KIOSK_FLEET_REGISTRY_KEYS_FILE: absent })).rejects.toThrow(
      /fleet\.registryKeysFile: cannot read the registry keys \(ENOENT\)/,
    );
  });
});

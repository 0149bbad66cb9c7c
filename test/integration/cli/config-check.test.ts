import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnKiosk } from '../../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'config-check-'));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('kiosk config check', () => {
  it('names the field and the reason for a broken file and exits 1', async () => {
    const broken = file('broken.json', {
      kiosk: { id: 'hn-0001' },
      mqtt: { url: 'mqtt://127.0.0.1:1883' },
      devices: { fingerprint: { path: '/dev/ttyAMA0', baudRate: 'fast' } },
    });
    const run = spawnKiosk(['config', 'check', broken]);
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.output()).toContain('devices.fingerprint.baudRate: expected one of 9600…115200, got "fast"');
  });

  it('exits 0 on a good file', async () => {
    const good = file('good.json', { kiosk: { id: 'hn-0001' }, mqtt: { url: 'mqtt://127.0.0.1:1883' } });
    const run = spawnKiosk(['config', 'check', good]);
    const { code } = await run.exited;
    expect(run.output()).toContain('ok (kiosk hn-0001');
    expect(code).toBe(0);
  });

  it('prints --version and --help with examples', async () => {
    const version = spawnKiosk(['--version']);
    expect((await version.exited).code).toBe(0);
    expect(version.output().trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = spawnKiosk(['--help']);
    expect((await help.exited).code).toBe(0);
    expect(help.output()).toContain('Examples:');
    expect(help.output()).toContain('kiosk demo');
  });
});

describe('the shipped example configuration', () => {
  it('passes kiosk config check, with the registry keys where provisioning puts them', async () => {
    // the example names /etc/cccd-kiosk/registry-keys.json: here a file of the same shape stands in
    const keysFile = join(mkdtempSync(join(tmpdir(), 'config-check-')), 'registry-keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({ signing: `${'A'.repeat(42)}E=`, sealing: `${'B'.repeat(42)}E=` }),
    );
    const run = spawnKiosk(['config', 'check', 'deploy/kiosk.example.json'], {
      KIOSK_FLEET_REGISTRY_KEYS_FILE: keysFile,
    });
    const { code } = await run.exited;
    expect(run.output()).toContain('ok (kiosk hn-0001');
    expect(code).toBe(0);
  });
});

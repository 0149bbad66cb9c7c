import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, publicKeyFromBase64 } from '../../../src/fleet/index.js';
import { ROOT } from '../../helpers/processes.js';
import { startFleetRig } from './fleet-rig.js';

const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));
const run = promisify(execFile);

async function kioskOps(args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', OPS_CLI, ...args], { cwd: ROOT });
    return { stdout, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; code: number };
    return { stdout: failed.stdout, code: failed.code };
  }
}

const kioskId = `ops-${process.pid}`;

describe('kiosk-ops against a running kiosk over Mosquitto', () => {
  let rig: Awaited<ReturnType<typeof startFleetRig>>;
  const dir = mkdtempSync(join(tmpdir(), 'kiosk-ops-'));
  const keyFile = join(dir, 'ops.key');
  beforeAll(async () => {
    rig = await startFleetRig(kioskId);
    writeFileSync(keyFile, rig.opsKey.export({ format: 'pem', type: 'pkcs8' }));
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('generates a key pair whose public key and keyId match', async () => {
    const { stdout, code } = await kioskOps(['--json', 'keys', 'generate', '--out', join(dir, 'new')]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { publicKey: string; keyId: string };
    expect(readFileSync(join(dir, 'new', 'ops.pub'), 'utf8').trim()).toBe(out.publicKey);
    expect(keyIdOf(publicKeyFromBase64(out.publicKey))).toBe(out.keyId);
    expect(readFileSync(join(dir, 'new', 'ops.key'), 'utf8')).toContain('BEGIN PRIVATE KEY');
    // refuses to overwrite
    expect((await kioskOps(['keys', 'generate', '--out', join(dir, 'new')])).code).not.toBe(0);
  });

  it('pushes config to a kiosk and waits for its result', async () => {
    const settings = join(dir, 'settings.json');
    writeFileSync(settings, JSON.stringify({ timeouts: { requestMs: 7777 } }));
    const common = [
      '--url',
      rig.broker.url,
      '--key',
      keyFile,
      '--settings',
      settings,
      '--kiosk',
      kioskId,
      '--wait',
    ];
    const { stdout, code } = await kioskOps(['--json', 'config', 'push', '--config-version', '4', ...common]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ kioskId, version: 4, status: 'applied' })]);
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(7777);
    const again = await kioskOps(['--json', 'config', 'push', '--config-version', '4', ...common]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual([
      expect.objectContaining({ status: 'refused', reason: 'not-newer' }),
    ]);
  });

  it('pushes config to the fleet and waits for every kiosk online', async () => {
    const settings = join(dir, 'fleet.json');
    writeFileSync(settings, JSON.stringify({ timeouts: { sessionIdleMs: 45_000 } }));
    const { stdout, code } = await kioskOps([
      '--json',
      'config',
      'push',
      '--config-version',
      '1',
      '--url',
      rig.broker.url,
      '--key',
      keyFile,
      '--settings',
      settings,
      '--fleet',
      '--wait',
      '--timeout',
      '20000',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ kioskId, version: 1, status: 'applied' })]);
    expect(rig.runtime.fleet.config.timeouts.sessionIdleMs).toBe(45_000);
  });

  it('sends a command and prints its result', async () => {
    const { stdout, code } = await kioskOps([
      '--json',
      'cmd',
      'send',
      'collect-diagnostics',
      '--url',
      rig.broker.url,
      '--key',
      keyFile,
      '--kiosk',
      kioskId,
      '--wait',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      name: 'collect-diagnostics',
      status: 'ok',
      data: { kioskId },
    });
  });

  it('lists the fleet from the retained statuses', async () => {
    const { stdout, code } = await kioskOps(['--json', 'fleet', '--url', rig.broker.url, '--settle', '500']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      expect.objectContaining({
        kioskId,
        online: true,
        devices: { scanner: 'ok' },
        queueDepth: expect.any(Number),
      }),
    ]);
    const table = await kioskOps(['fleet', '--url', rig.broker.url, '--settle', '500']);
    expect(table.stdout).toMatch(new RegExp(`^${kioskId}\\s+yes\\s+\\S+\\s+all ok \\(1\\)`, 'm'));
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, publicKeyFromBase64 } from '../../../src/fleet/index.js';
import { freePort } from '../../helpers/mosquitto.js';
import { ROOT } from '../../helpers/processes.js';
import { startFleetRig } from './fleet-rig.js';

const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));
const run = promisify(execFile);

async function kioskOps(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', OPS_CLI, ...args], {
      cwd: ROOT,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

/** What an operator sees of a failure: exactly one line, no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0] ?? '';
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
    expect(table.stdout).toMatch(
      new RegExp(
        `^${kioskId}\\s+yes\\s+now\\s+\\S+\\s+f\\d+/k\\d+\\s+\\d+\\s+all ok \\(1\\)\\s+in service$`,
        'm',
      ),
    );
  });

  describe('errors an operator can act on: one line, an exit code, no stack trace', () => {
    const push = (settings: string, extra: string[] = []) =>
      kioskOps([
        'config',
        'push',
        '--config-version',
        '90',
        '--url',
        rig.broker.url,
        '--key',
        keyFile,
        '--settings',
        settings,
        '--kiosk',
        kioskId,
        ...extra,
      ]);

    it('a missing settings file', async () => {
      const { stderr, code } = await push(join(dir, 'nowhere.json'));
      expect(code).toBe(1);
      expect(oneLine(stderr)).toMatch(/^kiosk-ops: settings file .*nowhere\.json does not exist$/);
    });

    it('a settings file that is not JSON', async () => {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{ "timeouts": ');
      const { stderr, code } = await push(bad);
      expect(code).toBe(1);
      expect(oneLine(stderr)).toMatch(/bad\.json is not valid JSON/);
    });

    it('settings the kiosk config schema refuses, before anything is signed or sent', async () => {
      const invalid = join(dir, 'invalid.json');
      writeFileSync(invalid, JSON.stringify({ timeouts: { requestMs: 'soon' } }));
      const before = rig.runtime.fleet.configVersions;
      const { stderr, code } = await push(invalid);
      expect(code).toBe(1);
      expect(oneLine(stderr)).toMatch(/invalid settings in .*invalid\.json: timeouts\.requestMs/);
      const unknown = join(dir, 'unknown.json');
      writeFileSync(unknown, JSON.stringify({ timeout: { requestMs: 1000 } }));
      expect(oneLine((await push(unknown)).stderr)).toMatch(/invalid settings/);
      const identity = join(dir, 'identity.json');
      writeFileSync(identity, JSON.stringify({ kiosk: { id: 'someone-else' } }));
      expect(oneLine((await push(identity)).stderr)).toMatch(/kiosk\.id cannot be pushed/);
      expect(rig.runtime.fleet.configVersions).toEqual(before);
    });

    it('an unreachable broker', async () => {
      const settings = join(dir, 'ok.json');
      writeFileSync(settings, JSON.stringify({ timeouts: { requestMs: 8000 } }));
      const url = `mqtt://127.0.0.1:${await freePort()}`;
      const { stderr, code } = await kioskOps([
        'config',
        'push',
        '--config-version',
        '91',
        '--url',
        url,
        '--key',
        keyFile,
        '--settings',
        settings,
        '--kiosk',
        kioskId,
      ]);
      expect(code).toBe(3);
      expect(oneLine(stderr)).toBe(`kiosk-ops: cannot reach the broker at ${url}: ECONNREFUSED`);
      const asJson = await kioskOps(['--json', 'fleet', '--url', url]);
      expect(asJson.code).toBe(3);
      expect(JSON.parse(oneLine(asJson.stderr))).toEqual({
        error: `cannot reach the broker at ${url}: ECONNREFUSED`,
        exitCode: 3,
      });
    });

    it('an unknown command name, refused before signing', async () => {
      const { stderr, code } = await kioskOps([
        'cmd',
        'send',
        'reboot',
        '--url',
        rig.broker.url,
        '--key',
        keyFile,
        '--kiosk',
        kioskId,
      ]);
      expect(code).toBe(1);
      expect(oneLine(stderr)).toMatch(/^kiosk-ops: unknown command "reboot"; a kiosk runs: lock, unlock/);
    });

    it('a missing key file and an unknown option', async () => {
      const missingKey = await kioskOps([
        'cmd',
        'send',
        'lock',
        '--url',
        rig.broker.url,
        '--key',
        join(dir, 'no.key'),
        '--kiosk',
        kioskId,
      ]);
      expect(missingKey.code).toBe(1);
      expect(oneLine(missingKey.stderr)).toMatch(/key file .*no\.key does not exist/);
      const option = await kioskOps(['fleet', '--url', rig.broker.url, '--colour']);
      expect(option.code).toBe(1);
      expect(oneLine(option.stderr)).toMatch(/unknown option '--colour'/);
    });

    it('--wait for a kiosk that does not exist says so at once', async () => {
      const { stderr, code } = await kioskOps([
        'cmd',
        'send',
        'lock',
        '--url',
        rig.broker.url,
        '--key',
        keyFile,
        '--kiosk',
        'no-such-kiosk',
        '--wait',
      ]);
      expect(code).toBe(4);
      expect(oneLine(stderr)).toMatch(/no kiosk no-such-kiosk is known to the broker/);
    });

    it('--help exits 0', async () => {
      const { stdout, code } = await kioskOps(['--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/Exit codes: 0 done/);
      expect((await kioskOps(['cmd', 'send', '--help'])).code).toBe(0);
    });
  });

  it('shows a locked kiosk as out of service, with why, its config version and progress of --wait', async () => {
    const send = (name: string) =>
      kioskOps([
        '--json',
        'cmd',
        'send',
        name,
        '--url',
        rig.broker.url,
        '--key',
        keyFile,
        '--kiosk',
        kioskId,
        '--wait',
      ]);
    const locked = await send('lock');
    expect(locked.code).toBe(0);
    expect(JSON.parse(locked.stdout)).toMatchObject({ name: 'lock', status: 'ok' });
    // progress of --wait on stderr, as JSON lines with --json
    const progress = locked.stderr
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { progress: string });
    expect(progress[0]?.progress).toMatch(new RegExp(`^${kioskId} is online; sending lock`));
    try {
      const rows = async () =>
        JSON.parse(
          (await kioskOps(['--json', 'fleet', '--url', rig.broker.url, '--settle', '500'])).stdout,
        ) as Array<Record<string, unknown>>;
      let row = (await rows()).find((candidate) => candidate.kioskId === kioskId);
      // the retained status is republished on the lock; read again until it shows
      for (let attempt = 0; attempt < 20 && row?.locked !== true; attempt++)
        row = (await rows()).find((candidate) => candidate.kioskId === kioskId);
      expect(row).toMatchObject({
        online: true,
        locked: true,
        outOfService: 'locked by operations',
        configVersions: rig.runtime.fleet.configVersions,
        lastSeen: expect.any(String),
      });
      const table = await kioskOps(['fleet', '--url', rig.broker.url, '--settle', '500']);
      expect(table.stdout).toMatch(
        new RegExp(
          `^${kioskId}\\s+yes\\s+now\\s+\\S+\\s+f\\d+/k\\d+\\s+\\d+\\s+all ok \\(1\\)\\s+OUT: locked by operations$`,
          'm',
        ),
      );
      expect(table.stdout).toMatch(/1 kiosks, 1 online, 1 out of service/);
    } finally {
      expect((await send('unlock')).code).toBe(0);
    }
  });
});

/**
 * Issue 7, item 6: `kiosk provision --non-interactive` against the demo completes and
 * `kiosk doctor` passes. The demo runs without its own kiosk (`kiosk demo --no-kiosk`), as a new
 * kiosk meets the world: broker, registry (with its test CA and a one-time token in a file) and
 * the emulated devices on ptys, which provisioning finds by probing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../src/config/index.js';
import { DEMO_ENROL_KIOSK_ID } from '../../../src/demo/rig.js';
import { KIOSK_CLI, ROOT, type Spawned, spawnKiosk } from '../../helpers/processes.js';

describe('kiosk provision against the demo', () => {
  let dir: string;
  let demo: Spawned;
  let brokerUrl: string;
  const rigDev = (name: string) => join(dir, 'demo', 'rig', 'dev', name);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provision-'));
    demo = spawnKiosk(['demo', '--no-kiosk', '--data-dir', join(dir, 'demo'), '--broker-port', '0']);
    const [, url] = await demo.waitFor(/demo world ready \(no kiosk\): broker (mqtt:\/\/[\d.:]+)/, 30_000);
    brokerUrl = url ?? '';
  });
  afterAll(async () => {
    demo?.child.kill('SIGINT');
    await demo?.exited;
  });

  async function provision(kioskId: string, token: string, configDir: string) {
    const run = spawnKiosk([
      'provision',
      '--non-interactive',
      '--config',
      join(configDir, 'kiosk.json'),
      '--kiosk-id',
      kioskId,
      '--broker',
      brokerUrl,
      '--mqtt-version',
      '4',
      '--token',
      token,
      '--data-dir',
      join(configDir, 'data'),
      '--ops-key',
      Buffer.alloc(32, 7).toString('base64'),
      '--scanner',
      rigDev('scanner'),
      '--ports',
      rigDev('fingerprint'),
      rigDev('printer'),
      rigDev('dispenser'),
    ]);
    // 'exit' can come before the last output is read: wait for the pipes to close too
    await new Promise((resolve) =>
      run.child.stdout?.closed ? resolve(undefined) : run.child.once('close', resolve),
    );
    const { code } = await run.exited;
    return { code, output: run.output() };
  }

  it('completes every step, writes a valid configuration, and doctor passes', async () => {
    const tokenFile = join(dir, 'demo', 'rig', 'enrolment-token');
    expect(statSync(tokenFile).mode & 0o077).toBe(0);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(DEMO_ENROL_KIOSK_ID).toBe('hn-0042');
    const configDir = join(dir, 'hn-0042');
    const first = await provision('hn-0042', token, configDir);
    expect(first.code, first.output).toBe(0);
    for (const step of [
      'TLS key',
      'certificate request',
      'sealing key',
      'enrolment',
      'devices',
      'configuration',
      'doctor',
    ])
      expect(first.output).toMatch(new RegExp(`^✓ ${step} `, 'm'));
    expect(first.output).not.toContain('✗');
    expect(first.output).toMatch(/fingerprint on .*printer on .*dispenser on /);

    const config = await loadConfigFile(join(configDir, 'kiosk.json'));
    expect(config.kiosk.id).toBe('hn-0042');
    expect(config.fleet.opsPublicKeys).toEqual([Buffer.alloc(32, 7).toString('base64')]);
    expect(config.mqtt.protocolVersion).toBe(4);
    expect(config.devices.fingerprint?.path).toBe(rigDev('fingerprint'));
    expect(config.devices.dispenser?.path).toBe(rigDev('dispenser'));
    expect(config.devices.printer?.path).toBe(rigDev('printer'));
    expect(config.devices.scanner?.path).toBe(rigDev('scanner'));
    expect(existsSync(join(configDir, 'tls', 'kiosk.pem'))).toBe(true);
    expect(statSync(join(configDir, 'data', 'identity', 'sealing.key')).mode & 0o077).toBe(0);

    const doctor = spawnKiosk(['doctor', '--config', join(configDir, 'kiosk.json'), '--json']);
    const { code } = await doctor.exited;
    const report = JSON.parse(doctor.output().slice(doctor.output().indexOf('{'))) as { ok: boolean };
    expect(report.ok).toBe(true);
    expect(code).toBe(0);

    // re-running is safe: same keys, no new token needed, same result
    const key = readFileSync(join(configDir, 'tls', 'kiosk.key'), 'utf8');
    const again = await provision('hn-0042', token, configDir);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/^✓ enrolment +already enrolled/m);
    expect(again.output).toMatch(/^✓ TLS key +kept /m);
    expect(readFileSync(join(configDir, 'tls', 'kiosk.key'), 'utf8')).toBe(key);

    // interactive: the answers come from a pipe; empty answers take the earlier run's values
    const interactive = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        KIOSK_CLI,
        'provision',
        '--config',
        join(configDir, 'kiosk.json'),
        '--data-dir',
        join(configDir, 'data'),
        '--mqtt-version',
        '4',
        '--ports',
        rigDev('fingerprint'),
        rigDev('printer'),
        rigDev('dispenser'),
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let dialogue = '';
    interactive.stdout.on('data', (chunk: Buffer) => (dialogue += chunk.toString()));
    interactive.stderr.on('data', (chunk: Buffer) => (dialogue += chunk.toString()));
    // kiosk id, site, broker, bootstrap, token: defaults; scanner: the demo's; ops keys: one
    interactive.stdin.end(`\n\n\n\n\n${rigDev('scanner')}\n${Buffer.alloc(32, 8).toString('base64')}\n`);
    const interactiveCode = await new Promise((resolve) => interactive.once('close', resolve));
    expect(interactiveCode, dialogue).toBe(0);
    expect(dialogue).toContain('kiosk id (e.g. hn-0001) [hn-0042]:');
    expect(dialogue).toMatch(/^✓ doctor +all devices ok/m);
    expect((await loadConfigFile(join(configDir, 'kiosk.json'))).fleet.opsPublicKeys).toEqual([
      Buffer.alloc(32, 8).toString('base64'),
    ]);

    // the token is bound to the id operations registered (the demo's hn-0042): another kiosk is
    // refused with a clear message
    const other = await provision('hn-0043', token, join(dir, 'hn-0043'));
    expect(other.code).toBe(1);
    expect(other.output).toMatch(/^✗ enrolment +this enrolment token was issued for another kiosk id/m);
    expect(existsSync(join(dir, 'hn-0043', 'kiosk.json'))).toBe(false);
  });
});

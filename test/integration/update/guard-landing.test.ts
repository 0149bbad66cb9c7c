/**
 * Issue 14: deploy/release-guard.sh (the real script, run with sh as systemd's ExecStartPre would)
 * landing a release the runtime staged in its state directory: a staged release that checks out is
 * copied into releases/<v> and switched to with switchRelease's semantics (previous, probation,
 * boots; two releases kept); one whose copy does not match its SHA256SUMS, or that holds a link or
 * a path outside app/, is dropped and the running release stays. The runtime's side and the whole
 * path are in runtime-update.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  markReleaseGood,
  pendingSwitch,
  probationVersion,
  requestSwitch,
  switchRelease,
} from '../../../src/update/releases.js';
import { switchRequestFile } from '../../../src/update/runtime-update.js';
import { tempDir } from './fixtures.js';

const GUARD = join(process.cwd(), 'deploy', 'release-guard.sh');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A kiosk running 0.1.1 (good, 0.1.0 before it) and a staged 0.1.2 with one file. */
async function kiosk(): Promise<{ root: string; state: string; staged: string }> {
  const dir = tempDir('guard-landing');
  const root = join(dir, 'opt');
  const state = join(dir, 'var-lib');
  for (const version of ['0.1.0', '0.1.1']) {
    await mkdir(join(root, 'releases', version, 'app'), { recursive: true });
    await writeFile(join(root, 'releases', version, 'manifest.json'), JSON.stringify({ version }));
  }
  await switchRelease(root, '0.1.0');
  await markReleaseGood(root);
  await switchRelease(root, '0.1.1');
  await markReleaseGood(root);
  const staged = join(state, 'update-staging', 'releases', '0.1.2');
  await mkdir(join(staged, 'app', 'dist'), { recursive: true });
  await writeFile(join(staged, 'manifest.json'), JSON.stringify({ version: '0.1.2' }));
  await writeFile(join(staged, 'app', 'dist', 'main.js'), 'console.log(2);\n');
  await writeFile(join(staged, 'SHA256SUMS'), `${sha256('console.log(2);\n')}  app/dist/main.js\n`);
  await writeFile(switchRequestFile(state), '0.1.2\n');
  return { root, state, staged };
}

/** The guard's boot action; what it says (stderr: its log lines, as systemd's journal gets them). */
function boot(root: string, state: string): string {
  const guard = spawnSync('sh', [GUARD, 'boot', root, state, '3'], { encoding: 'utf8' });
  if (guard.status !== 0) throw new Error(`release-guard.sh boot exited ${guard.status}: ${guard.stderr}`);
  return guard.stderr;
}

async function expectNotSwitched(root: string, state: string): Promise<void> {
  boot(root, state);
  expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
  expect(existsSync(join(root, 'releases', '0.1.2'))).toBe(false);
  expect((await readdir(join(root, 'releases'))).filter((name) => name.startsWith('.'))).toEqual([]);
  expect(existsSync(switchRequestFile(state))).toBe(false);
}

describe('the release guard lands a staged release', () => {
  it('copies a staged release that checks out into releases/, switches to it and keeps two', async () => {
    const { root, state, staged } = await kiosk();
    boot(root, state);
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.2'));
    expect(await readFile(join(root, 'releases', '0.1.2', 'app', 'dist', 'main.js'), 'utf8')).toBe(
      'console.log(2);\n',
    );
    expect((await readFile(join(root, 'update', 'previous'), 'utf8')).trim()).toBe('0.1.1');
    expect(await probationVersion(root)).toBe('0.1.2');
    // the guard's own start count of the new release began with this boot
    expect((await readFile(join(root, 'update', 'boots'), 'utf8')).trim()).toBe('1');
    expect((await readdir(join(root, 'releases'))).sort()).toEqual(['0.1.1', '0.1.2']);
    expect(existsSync(staged)).toBe(false);
    expect(existsSync(switchRequestFile(state))).toBe(false);
  });

  it('drops a staged release whose copy does not match its checksums', async () => {
    const { root, state, staged } = await kiosk();
    await writeFile(join(staged, 'app', 'dist', 'main.js'), 'console.log("changed");\n');
    await expectNotSwitched(root, state);
  });

  it('drops a staged release holding a link, or a checksum line outside app/', async () => {
    const linked = await kiosk();
    await symlink('/etc/hostname', join(linked.staged, 'app', 'dist', 'host'));
    await expectNotSwitched(linked.root, linked.state);

    const outside = await kiosk();
    // a file outside the release whose checksum matches: only the path rule refuses it
    const elsewhere = join(outside.state, 'elsewhere.txt');
    await writeFile(elsewhere, 'x');
    await writeFile(join(outside.staged, 'SHA256SUMS'), `${sha256('x')}  ${elsewhere}\n`);
    await expectNotSwitched(outside.root, outside.state);
  });

  it('ignores a switch request that is not a version', async () => {
    const { root, state } = await kiosk();
    await writeFile(switchRequestFile(state), '../../etc\n');
    await expectNotSwitched(root, state);
  });
});

describe("the release guard switches to a technician's install (update/pending)", () => {
  /** A kiosk on 0.1.1 (0.1.0 before it) with `version` installed beside it by `kiosk update`. */
  async function withInstalled(version: string): Promise<{ root: string; state: string }> {
    const { root, state } = await kiosk();
    await rm(switchRequestFile(state));
    await mkdir(join(root, 'releases', version, 'app'), { recursive: true });
    await writeFile(join(root, 'releases', version, 'manifest.json'), JSON.stringify({ version }));
    await requestSwitch(root, version);
    return { root, state };
  }

  it('switches to it with switchRelease semantics, keeps two releases and removes the request', async () => {
    const { root, state } = await withInstalled('0.1.3');
    expect(boot(root, state)).toContain('switched 0.1.1 -> 0.1.3');
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.3'));
    expect((await readFile(join(root, 'update', 'previous'), 'utf8')).trim()).toBe('0.1.1');
    expect(await probationVersion(root)).toBe('0.1.3');
    expect((await readdir(join(root, 'releases'))).sort()).toEqual(['0.1.1', '0.1.3']);
    expect(await pendingSwitch(root)).toBeUndefined();
  });

  it('drops a request for a release that is not installed, or that is not a version', async () => {
    for (const request of ['0.1.4', '../0.1.1']) {
      const { root, state } = await withInstalled('0.1.3');
      await writeFile(join(root, 'update', 'pending'), `${request}\n`);
      boot(root, state);
      expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
      expect(await pendingSwitch(root)).toBeUndefined();
    }
  });

  it('drops it when a release operations ordered lands at the same start', async () => {
    const { root, state } = await kiosk();
    await mkdir(join(root, 'releases', '0.1.3', 'app'), { recursive: true });
    await writeFile(join(root, 'releases', '0.1.3', 'manifest.json'), JSON.stringify({ version: '0.1.3' }));
    await requestSwitch(root, '0.1.3');
    expect(boot(root, state)).toContain('update/pending dropped');
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.2'));
    expect((await readFile(join(root, 'update', 'previous'), 'utf8')).trim()).toBe('0.1.1');
    expect(await pendingSwitch(root)).toBeUndefined();
  });
});

describe('the release guard after a switch cut short', () => {
  it('clears a probation that names a release current does not point at, instead of counting boots toward a rollback', async () => {
    const { root, state } = await kiosk();
    await rm(switchRequestFile(state));
    // switchRelease wrote probation for 0.1.2, and the power went before `current` was renamed
    await writeFile(join(root, 'update', 'probation'), '0.1.2\n');
    expect(boot(root, state)).toContain('update/probation names 0.1.2, not the running release; cleared');
    for (let start = 0; start < 4; start++) expect(boot(root, state)).toBe('');
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
    expect(await probationVersion(root)).toBeUndefined();
    expect(existsSync(join(root, 'update', 'rollbacks.jsonl'))).toBe(false);
  });
});

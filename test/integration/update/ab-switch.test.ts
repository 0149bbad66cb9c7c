/**
 * Issue 14, A/B: the switch, the two kept releases, and deploy/release-guard.sh (the script
 * systemd runs as ExecStartPre and OnFailure=) rolling back a release on probation: after a crash
 * loop (more starts than allowed without being marked good), on the runtime's rollback request,
 * and never once the runtime marked it good. The guard is the real script, run with sh.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  currentVersion,
  markReleaseGood,
  probationVersion,
  pruneReleases,
  rollBackRelease,
  switchRelease,
  unreportedRollbacks,
} from '../../../src/update/releases.js';
import { tempDir } from './fixtures.js';

const GUARD = join(process.cwd(), 'deploy', 'release-guard.sh');

async function installRoot(versions: string[]): Promise<{ root: string; state: string }> {
  const dir = tempDir('ab');
  const root = join(dir, 'opt');
  const state = join(dir, 'var-lib');
  await mkdir(state, { recursive: true });
  for (const v of versions) {
    await mkdir(join(root, 'releases', v, 'app'), { recursive: true });
    await writeFile(join(root, 'releases', v, 'manifest.json'), JSON.stringify({ version: v }));
  }
  return { root, state };
}

const guardBoot = (root: string, state: string) =>
  execFileSync('sh', [GUARD, 'boot', root, state, '3'], { stdio: 'pipe' });

describe('A/B releases', () => {
  it('switches current atomically to the new release and keeps two releases', async () => {
    const { root } = await installRoot(['0.1.0', '0.1.1', '0.1.2']);
    await switchRelease(root, '0.1.0');
    await markReleaseGood(root);
    await switchRelease(root, '0.1.1');
    await switchRelease(root, '0.1.2');
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.2'));
    expect(await probationVersion(root)).toBe('0.1.2');
    expect(await pruneReleases(root)).toEqual(['0.1.0']);
    expect((await readdir(join(root, 'releases'))).sort()).toEqual(['0.1.1', '0.1.2']);
  });

  it('the guard rolls a crash-looping release on probation back to the previous one, and records it', async () => {
    const { root, state } = await installRoot(['0.1.1', '0.1.2']);
    await switchRelease(root, '0.1.1');
    await markReleaseGood(root);
    await switchRelease(root, '0.1.2');
    // three starts are allowed (a release may restart for a restart-required setting)
    for (let start = 1; start <= 3; start++) {
      guardBoot(root, state);
      expect(await currentVersion(root)).toBe('0.1.2');
    }
    guardBoot(root, state); // the fourth start without being marked good: a crash loop
    expect(await currentVersion(root)).toBe('0.1.1');
    expect(await probationVersion(root)).toBeUndefined();
    expect(await unreportedRollbacks(root)).toMatchObject([
      { from: '0.1.2', to: '0.1.1', reason: 'crash-loop' },
    ]);
  });

  it('the guard rolls back at once on the runtime rollback request (never connected)', async () => {
    const { root, state } = await installRoot(['0.1.1', '0.1.2']);
    await switchRelease(root, '0.1.1');
    await markReleaseGood(root);
    await switchRelease(root, '0.1.2');
    guardBoot(root, state);
    await writeFile(join(state, 'rollback-request'), 'never-connected\n');
    guardBoot(root, state);
    expect(await currentVersion(root)).toBe('0.1.1');
    expect(await unreportedRollbacks(root)).toMatchObject([{ from: '0.1.2', reason: 'never-connected' }]);
    expect(await readFile(join(state, 'rollback-request'), 'utf8').catch(() => 'gone')).toBe('gone');
  });

  it('a release the runtime marked good is not rolled back by later restarts', async () => {
    const { root, state } = await installRoot(['0.1.1', '0.1.2']);
    await switchRelease(root, '0.1.1');
    await markReleaseGood(root);
    await switchRelease(root, '0.1.2');
    guardBoot(root, state);
    await writeFile(join(state, 'release-good'), '0.1.2\n');
    for (let start = 1; start <= 5; start++) guardBoot(root, state);
    expect(await currentVersion(root)).toBe('0.1.2');
    expect(await probationVersion(root)).toBeUndefined();
  });

  it('the OnFailure= rollback (a release that never starts) and the CLI rollback use the same record', async () => {
    const { root, state } = await installRoot(['0.1.1', '0.1.2']);
    await switchRelease(root, '0.1.1');
    await markReleaseGood(root);
    await switchRelease(root, '0.1.2');
    execFileSync('sh', [GUARD, 'rollback', root, state, 'start-failed'], { stdio: 'pipe' });
    expect(await currentVersion(root)).toBe('0.1.1');
    await switchRelease(root, '0.1.2');
    expect(await rollBackRelease(root, 'technician')).toMatchObject({ from: '0.1.2', to: '0.1.1' });
    expect((await unreportedRollbacks(root)).map((r) => r.reason)).toEqual(['start-failed', 'technician']);
  });
});

/**
 * The technician's and the operator's commands end to end, as installed: `kiosk-ops release keys,
 * init, add` write a repository; it is copied to a "USB stick"; `kiosk update --from` on a kiosk
 * running v0.1.0 (no network, no configuration) verifies, installs and switches to v0.1.1.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readlink, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pointCurrentAt } from '../../../src/update/releases.js';
import { metadataDir } from '../../../src/update/updater.js';
import { makeBundle, tempDir } from './fixtures.js';

const run = promisify(execFile);
const cli = (name: 'kiosk' | 'kiosk-ops', args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join('src', 'cli', `${name}.ts`), ...args], {
    cwd: process.cwd(),
  });

describe('kiosk-ops release and kiosk update --from', () => {
  it('publishes a bundle and installs it from a USB directory', async () => {
    const work = tempDir('cli');
    const keys = join(work, 'keys');
    const repo = join(work, 'repo');
    await cli('kiosk-ops', ['release', 'keys', '--out', keys]);
    const rootKeys = ['root-1', 'root-2', 'root-3'].flatMap((k) => ['--root-key', join(keys, `${k}.key`)]);
    await cli('kiosk-ops', ['release', 'init', '--repo', repo, '--keys', keys, ...rootKeys]);
    const bundle = await makeBundle(work, '0.1.1');
    const added = await cli('kiosk-ops', [
      '--json',
      'release',
      'add',
      '--repo',
      repo,
      '--keys',
      keys,
      bundle.file,
    ]);
    expect(added.stdout).toContain('releases/0.1.1/');

    const stick = join(work, 'usb');
    await cp(repo, stick, { recursive: true });
    const kiosk = join(work, 'opt-cccd-kiosk');
    await mkdir(join(kiosk, 'releases', '0.1.0'), { recursive: true });
    await writeFile(join(kiosk, 'releases', '0.1.0', 'manifest.json'), '{}');
    await pointCurrentAt(kiosk, '0.1.0');
    await mkdir(metadataDir(kiosk), { recursive: true });
    await copyFile(join(repo, 'metadata', '1.root.json'), join(metadataDir(kiosk), 'root.json'));

    const out = await cli('kiosk', ['update', '--from', stick, '--root', kiosk, '--now', '--json']);
    expect(JSON.parse(out.stdout)).toMatchObject({ version: '0.1.1', switched: true, from: '0.1.0' });
    expect(await readlink(join(kiosk, 'current'))).toBe(join('releases', '0.1.1'));
    expect((await readdir(join(kiosk, 'releases'))).sort()).toEqual(['0.1.0', '0.1.1']);

    // the same stick again: already running, refused with its reason and exit code 1
    const again = await cli('kiosk', ['update', '--from', stick, '--root', kiosk, '--json']).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect(again).toMatchObject({ code: 1 });
    expect(JSON.parse((again as { stdout: string }).stdout)).toMatchObject({ refused: 'up-to-date' });
  });
});

/**
 * Issue 14, item 4: the same signed repository copied to a USB stick updates a kiosk with no
 * network. The kiosk's HTTPS source is not even started; `--from DIR` reads metadata and targets
 * from the directory through the same TUF checks, so a tampered stick is refused the same way.
 */
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type UpdateRefused } from '../../../src/update/errors.js';
import { readRepository } from '../../../src/update/repository.js';
import { stageUpdate } from '../../../src/update/updater.js';
import {
  HOST_TARGET,
  makeBundle,
  makeKeys,
  makeKioskRoot,
  makeRepository,
  publish,
  tempDir,
  hostAt,
} from './fixtures.js';

const host = hostAt;

async function usbWorld(name: string) {
  const work = tempDir(`usb-${name}`);
  const repo = join(work, 'repo');
  const keys = makeKeys();
  await makeRepository(repo, keys);
  await publish(repo, keys, [await makeBundle(work, '0.1.1')]);
  const stick = join(work, 'media-usb');
  await cp(repo, stick, { recursive: true });
  const kiosk = join(work, 'kiosk');
  await makeKioskRoot(kiosk, repo);
  return { stick, kiosk };
}

describe('update from a USB directory with no network', () => {
  it('installs the signed release from the stick', async () => {
    const { stick, kiosk } = await usbWorld('ok');
    const staged = await stageUpdate({
      root: kiosk,
      source: { kind: 'directory', dir: stick },
      host: host('0.1.0'),
    });
    expect(staged.version).toBe('0.1.1');
    expect(await readdir(join(kiosk, 'releases'))).toEqual(['0.1.1']);
    const manifest = JSON.parse(await readFile(join(staged.dir, 'manifest.json'), 'utf8')) as {
      target: string;
    };
    expect(manifest.target).toBe(HOST_TARGET);
  });

  it('refuses a stick whose bundle was altered', async () => {
    const { stick, kiosk } = await usbWorld('tampered');
    const { targets } = await readRepository(stick);
    const [path, info] = Object.entries(targets.signed.targets)[0]!;
    const stored = join(stick, 'targets', path.replace(/[^/]+$/, `${info.hashes['sha256']}.$&`));
    const bytes = await readFile(stored);
    await writeFile(
      stored,
      Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes.at(-1)! ^ 1])]),
    );
    const error = await stageUpdate({
      root: kiosk,
      source: { kind: 'directory', dir: stick },
      host: host('0.1.0'),
    }).catch((e: unknown) => e);
    expect((error as UpdateRefused).reason).toBe('tampered-target');
    expect(await readdir(join(kiosk, 'releases')).catch(() => [])).toEqual([]);
  });
});

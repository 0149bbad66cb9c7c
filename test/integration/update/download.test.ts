/**
 * Issue 14, item 3: resumable, bounded downloads. A download cut short (a partial file left by a
 * power cut, or the updater SIGKILLed mid-transfer) resumes with an HTTP Range request and fetches
 * only the missing bytes; nothing reaches releases/ until the whole bundle matched its signed
 * hashes; a kiosk without the space is refused before a byte is fetched (a real 1 MiB tmpfs).
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpdateRefused } from '../../../src/update/errors.js';
import { readRepository } from '../../../src/update/repository.js';
import type { RepositoryServer } from '../../../src/update/serve.js';
import { stageUpdate } from '../../../src/update/updater.js';
import {
  HOST_ABI,
  HOST_TARGET,
  makeBundle,
  makeKeys,
  makeKioskRoot,
  makeOpsPki,
  makeRepository,
  publish,
  serveRepository,
  tempDir,
  type OpsPki,
  hostAt,
} from './fixtures.js';

const host = hostAt;
const BUNDLE_PAD = 600 * 1024;

describe('resumable, bounded downloads', () => {
  let work: string;
  let pki: OpsPki;
  let repo: string;
  let server: RepositoryServer;
  let bundleSha: string;
  let bundleLength: number;
  let bundleBytes: Buffer;

  beforeAll(async () => {
    work = tempDir('download');
    pki = makeOpsPki(work);
    repo = join(work, 'repo');
    const keys = makeKeys();
    await makeRepository(repo, keys);
    const bundle = await makeBundle(work, '0.1.1', { padBytes: BUNDLE_PAD });
    await publish(repo, keys, [bundle]);
    const info = Object.values((await readRepository(repo)).targets.signed.targets)[0]!;
    bundleSha = info.hashes['sha256']!;
    bundleLength = info.length;
    bundleBytes = await readFile(bundle.file);
    server = await serveRepository({ dir: repo, cert: pki.serverCert, key: pki.serverKey });
  });
  afterAll(async () => {
    await server?.close();
  });

  const source = () => ({ kind: 'https' as const, baseUrl: server.url, ca: pki.caCert });

  it('resumes a partial download with a Range request, fetching only the missing bytes', async () => {
    const kiosk = join(work, 'kiosk-partial');
    await makeKioskRoot(kiosk, repo);
    const have = 200_000;
    await mkdir(join(kiosk, 'update', 'downloads'), { recursive: true });
    await writeFile(join(kiosk, 'update', 'downloads', `${bundleSha}.part`), bundleBytes.subarray(0, have));
    const sentBefore = server.targetBytesSent();

    const staged = await stageUpdate({ root: kiosk, source: source(), host: host('0.1.0') });

    expect(staged.received).toBe(bundleLength - have);
    expect(server.targetBytesSent() - sentBefore).toBe(bundleLength - have);
    expect(readdirSync(join(kiosk, 'releases'))).toEqual(['0.1.1']);
  });

  it('after a SIGKILL mid-download nothing is in releases/, and the next run resumes', async () => {
    const kiosk = join(work, 'kiosk-killed');
    await makeKioskRoot(kiosk, repo);
    const caFile = join(work, 'ca.pem');
    await writeFile(caFile, pki.caCert);
    const part = join(kiosk, 'update', 'downloads', `${bundleSha}.part`);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(import.meta.dirname, 'download-child.ts'),
        JSON.stringify({
          root: kiosk,
          baseUrl: server.url,
          caFile,
          version: '0.1.1',
          hostVersion: '0.1.0',
          target: HOST_TARGET,
          nodeAbi: HOST_ABI,
          maxBytesPerSecond: 128 * 1024,
        }),
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // wait (by state, not by time) until part of the bundle is on disk, then kill
    let partial = 0;
    while (partial < 64 * 1024) {
      await sleep(20);
      partial = await stat(part).then(
        (s) => s.size,
        () => 0,
      );
    }
    child.kill('SIGKILL');
    await exited;
    partial = (await stat(part)).size;
    expect(partial).toBeLessThan(bundleLength);
    expect(readdirSync(kiosk)).not.toContain('releases');

    const staged = await stageUpdate({ root: kiosk, source: source(), host: host('0.1.0') });
    expect(staged.received).toBe(bundleLength - partial);
    expect(readdirSync(join(kiosk, 'releases'))).toEqual(['0.1.1']);
  });

  describe('on a kiosk disk without room', () => {
    let mountPoint: string;
    beforeAll(() => {
      mountPoint = join(work, 'small-disk');
      mkdirSync(mountPoint);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    });
    afterAll(() => {
      execFileSync('umount', [mountPoint]);
    });

    it('refuses before fetching a byte of the bundle', async () => {
      const kiosk = join(mountPoint, 'kiosk');
      await makeKioskRoot(kiosk, repo);
      const sentBefore = server.targetBytesSent();
      const error = await stageUpdate({ root: kiosk, source: source(), host: host('0.1.0') }).catch(
        (e: unknown) => e,
      );
      expect((error as UpdateRefused).reason).toBe('disk-space');
      expect(server.targetBytesSent()).toBe(sentBefore);
      expect(readdirSync(kiosk)).not.toContain('releases');
    });
  });
});

/**
 * Issue 14, "What it must show" item 2: each refusal with its reason. The repository is written by
 * the ops code (@tufjs/models), served on loopback HTTPS with a certificate from the ops CA, and
 * read by the kiosk code (tuf-js) that pins that CA. Nothing lands in releases/ on a refusal.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdateRefused, type RefusalReason } from '../../../src/update/errors.js';
import { readRepository, rotateRoot, writeTimestamp } from '../../../src/update/repository.js';
import type { RepositoryServer } from '../../../src/update/serve.js';
import { stageUpdate } from '../../../src/update/updater.js';
import type { UpdateSource } from '../../../src/update/transport.js';
import {
  HOST_ABI,
  HOST_TARGET,
  makeBundle,
  makeKeys,
  makeKioskRoot,
  makeOpsPki,
  makeRepository,
  OTHER_TARGET,
  publish,
  serveRepository,
  tempDir,
  type OpsKeys,
  type OpsPki,
  hostAt,
} from './fixtures.js';

const host = hostAt;

async function refusalOf(promise: Promise<unknown>): Promise<RefusalReason> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpdateRefused);
  return (error as UpdateRefused).reason;
}

async function releases(root: string): Promise<string[]> {
  return readdir(join(root, 'releases')).catch(() => []);
}

describe('kiosk refuses updates, each with its reason', () => {
  let work: string;
  let pki: OpsPki;
  let server: RepositoryServer;
  let repo: string;
  let keys: OpsKeys;
  let source: UpdateSource;

  beforeAll(async () => {
    work = tempDir('refusals');
    pki = makeOpsPki(work);
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A fresh repository holding v0.1.1 for this kiosk, and a fresh kiosk running v0.1.0. */
  async function freshWorld(name: string): Promise<string> {
    await server?.close();
    repo = join(work, `repo-${name}`);
    keys = makeKeys();
    await makeRepository(repo, keys);
    await publish(repo, keys, [await makeBundle(work, '0.1.1')]);
    server = await serveRepository({ dir: repo, cert: pki.serverCert, key: pki.serverKey });
    source = { kind: 'https', baseUrl: server.url, ca: pki.caCert };
    const kiosk = join(work, `kiosk-${name}`);
    await makeKioskRoot(kiosk, repo);
    return kiosk;
  }

  it('accepts the genuine release (the baseline the refusals differ from)', async () => {
    const kiosk = await freshWorld('genuine');
    const staged = await stageUpdate({ root: kiosk, source, host: host('0.1.0') });
    expect(staged.version).toBe('0.1.1');
    expect(await releases(kiosk)).toEqual(['0.1.1']);
  });

  it('refuses a tampered target', async () => {
    const kiosk = await freshWorld('tampered');
    const { targets } = await readRepository(repo);
    const [path, info] = Object.entries(targets.signed.targets)[0]!;
    const stored = join(repo, 'targets', path.replace(/[^/]+$/, `${info.hashes['sha256']}.$&`));
    const bytes = await readFile(stored);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    await writeFile(stored, bytes);
    expect(await refusalOf(stageUpdate({ root: kiosk, source, host: host('0.1.0') }))).toBe(
      'tampered-target',
    );
    expect(await releases(kiosk)).toEqual([]);
  });

  it('refuses a target that is not in signed metadata', async () => {
    const kiosk = await freshWorld('unlisted');
    // a bundle dropped on the mirror next to the signed ones, never added to targets metadata
    const rogue = await makeBundle(work, '0.1.9');
    await mkdir(join(repo, 'targets', 'releases', '0.1.9'), { recursive: true });
    await writeFile(join(repo, 'targets', rogue.path), await readFile(rogue.file));
    const reason = await refusalOf(
      stageUpdate({ root: kiosk, source, host: host('0.1.0'), version: '0.1.9' }),
    );
    expect(reason).toBe('not-in-metadata');
    expect(await releases(kiosk)).toEqual([]);
  });

  it('refuses expired timestamp metadata (freeze)', async () => {
    const kiosk = await freshWorld('expired');
    const current = await readRepository(repo);
    await writeTimestamp(
      repo,
      current.snapshot.signed.version,
      current.timestamp.signed.version + 1,
      keys.timestamp,
      {
        timestampExpiryDays: -1,
      },
    );
    expect(await refusalOf(stageUpdate({ root: kiosk, source, host: host('0.1.0') }))).toBe(
      'expired-metadata',
    );
  });

  it('refuses a replayed older snapshot', async () => {
    const kiosk = await freshWorld('replay');
    await publish(repo, keys, [await makeBundle(work, '0.1.2')]);
    await stageUpdate({ root: kiosk, source, host: host('0.1.0'), version: '0.1.1' });
    // the kiosk now trusts snapshot v3; a mirror replays snapshot v1 under a fresh timestamp
    const current = await readRepository(repo);
    await writeTimestamp(repo, 1, current.timestamp.signed.version + 1, keys.timestamp);
    expect(await refusalOf(stageUpdate({ root: kiosk, source, host: host('0.1.1') }))).toBe('rollback');
  });

  it('refuses a bundle for another target', async () => {
    const kiosk = await freshWorld('other-target');
    await publish(repo, keys, [await makeBundle(work, '0.1.2', { target: OTHER_TARGET })]);
    const reason = await refusalOf(
      stageUpdate({ root: kiosk, source, host: host('0.1.1'), version: '0.1.2' }),
    );
    expect(reason).toBe('other-target');
  });

  it('refuses a mislabelled bundle whose own manifest names another target', async () => {
    const kiosk = await freshWorld('mislabelled');
    // signed as this kiosk's platform, but built for the other: caught by the manifest inside
    await publish(repo, keys, [
      await makeBundle(work, '0.1.2', { target: OTHER_TARGET, labelTarget: HOST_TARGET }),
    ]);
    const reason = await refusalOf(
      stageUpdate({ root: kiosk, source, host: host('0.1.1'), version: '0.1.2' }),
    );
    expect(reason).toBe('other-target');
    expect(await releases(kiosk)).toEqual([]);
  });

  it('refuses a bundle for another Node ABI', async () => {
    const kiosk = await freshWorld('other-abi');
    await publish(repo, keys, [await makeBundle(work, '0.1.2', { nodeAbi: String(Number(HOST_ABI) + 12) })]);
    const reason = await refusalOf(
      stageUpdate({ root: kiosk, source, host: host('0.1.1'), version: '0.1.2' }),
    );
    expect(reason).toBe('other-abi');
  });

  it('refuses a downgrade', async () => {
    const kiosk = await freshWorld('downgrade');
    expect(await refusalOf(stageUpdate({ root: kiosk, source, host: host('0.2.0'), version: '0.1.1' }))).toBe(
      'downgrade',
    );
  });

  it('refuses metadata signed below the threshold', async () => {
    const kiosk = await freshWorld('threshold');
    // root v2 signed by one of the three root keys: the threshold is two
    await rotateRoot(repo, {
      newRootKeys: keys.root.map((k) => k.key),
      newThreshold: 2,
      online: keys,
      signers: [keys.root[2]],
    });
    expect(await refusalOf(stageUpdate({ root: kiosk, source, host: host('0.1.0') }))).toBe(
      'below-threshold',
    );
  });

  it('refuses a server whose certificate is not from the pinned ops CA', async () => {
    const kiosk = await freshWorld('pinning');
    const other = makeOpsPki(tempDir('other-ca'), 'another CA');
    const impostor = await serveRepository({ dir: repo, cert: other.serverCert, key: other.serverKey });
    try {
      const reason = await refusalOf(
        stageUpdate({
          root: kiosk,
          source: { kind: 'https', baseUrl: impostor.url, ca: pki.caCert },
          host: host('0.1.0'),
        }),
      );
      expect(reason).toBe('unreachable');
    } finally {
      await impostor.close();
    }
  });
});

/**
 * Issue 14, item 5: root key rotation. A new root signed by the old root's threshold (2 of the old
 * 3) and by its own threshold is accepted and becomes the kiosk's trusted root; a new root signed
 * only by the new keys is refused, and the kiosk keeps trusting the old one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdateRefused } from '../../../src/update/errors.js';
import { generateSigningKey } from '../../../src/update/keys.js';
import { renewTimestamp, rotateRoot } from '../../../src/update/repository.js';
import type { RepositoryServer } from '../../../src/update/serve.js';
import { metadataDir, stageUpdate } from '../../../src/update/updater.js';
import {
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

async function trustedRootVersion(kiosk: string): Promise<number> {
  const root = JSON.parse(await readFile(join(metadataDir(kiosk), 'root.json'), 'utf8')) as {
    signed: { version: number };
  };
  return root.signed.version;
}

describe('root key rotation', () => {
  let work: string;
  let pki: OpsPki;
  const servers: RepositoryServer[] = [];

  beforeAll(() => {
    work = tempDir('rotation');
    pki = makeOpsPki(work);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  async function world(name: string) {
    const repo = join(work, `repo-${name}`);
    const keys = makeKeys();
    await makeRepository(repo, keys);
    await publish(repo, keys, [await makeBundle(work, '0.1.1')]);
    const server = await serveRepository({ dir: repo, cert: pki.serverCert, key: pki.serverKey });
    servers.push(server);
    const kiosk = join(work, `kiosk-${name}`);
    await makeKioskRoot(kiosk, repo);
    const source = { kind: 'https' as const, baseUrl: server.url, ca: pki.caCert };
    await stageUpdate({ root: kiosk, source, host: host('0.1.0') });
    return { repo, keys, kiosk, source };
  }

  it('accepts a new root signed by the old threshold and the new one, and uses its keys after', async () => {
    const { repo, keys, kiosk, source } = await world('accepted');
    const newRoot = [generateSigningKey(), generateSigningKey(), generateSigningKey()] as const;
    const newTimestamp = generateSigningKey();
    const online = { ...keys, timestamp: newTimestamp };
    await rotateRoot(repo, {
      newRootKeys: newRoot.map((k) => k.key),
      newThreshold: 2,
      online,
      // two old root keys (the old threshold) and two new ones (the new threshold)
      signers: [keys.root[0], keys.root[2], newRoot[0], newRoot[1]],
    });
    // the timestamp key was rotated with the root: the old one no longer counts
    await renewTimestamp(repo, newTimestamp);
    await publish(repo, online, [await makeBundle(work, '0.1.2')]);

    const staged = await stageUpdate({ root: kiosk, source, host: host('0.1.1') });
    expect(staged.version).toBe('0.1.2');
    expect(await trustedRootVersion(kiosk)).toBe(2);
  });

  it('refuses a new root signed only by the new keys, keeping the old root', async () => {
    const { repo, keys, kiosk, source } = await world('refused');
    const newRoot = [generateSigningKey(), generateSigningKey(), generateSigningKey()] as const;
    await rotateRoot(repo, {
      newRootKeys: newRoot.map((k) => k.key),
      newThreshold: 2,
      online: keys,
      signers: [newRoot[0], newRoot[1], newRoot[2]],
    });
    const error = await stageUpdate({ root: kiosk, source, host: host('0.1.1') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpdateRefused);
    expect((error as UpdateRefused).reason).toBe('below-threshold');
    expect(await trustedRootVersion(kiosk)).toBe(1);
  });

  it('refuses a new root signed by one old key and the new threshold', async () => {
    const { repo, keys, kiosk, source } = await world('one-old');
    const newRoot = [generateSigningKey(), generateSigningKey(), generateSigningKey()] as const;
    await rotateRoot(repo, {
      newRootKeys: newRoot.map((k) => k.key),
      newThreshold: 2,
      online: keys,
      signers: [keys.root[1], newRoot[0], newRoot[1]],
    });
    const error = await stageUpdate({ root: kiosk, source, host: host('0.1.1') }).catch((e: unknown) => e);
    expect((error as UpdateRefused).reason).toBe('below-threshold');
    expect(await trustedRootVersion(kiosk)).toBe(1);
  });
});

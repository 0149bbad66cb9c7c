/**
 * A world for update tests in a temporary root: an ops CA and a loopback HTTPS server serving a
 * TUF repository written by the real ops code, tiny app trees packed by the real bundle code, and
 * a kiosk install root with its trusted root.json.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packBundle } from '../../../src/update/bundle.js';
import { generateSigningKey, type SigningKey } from '../../../src/update/keys.js';
import type { BundleTarget, HostIdentity } from '../../../src/update/manifest.js';
import { addTargets, initRepository, type OnlineKeys } from '../../../src/update/repository.js';
import { metadataDir } from '../../../src/update/updater.js';

export const HOST_TARGET: BundleTarget = process.arch === 'arm64' ? 'linux-arm64' : 'linux-x64';
export const OTHER_TARGET: BundleTarget = HOST_TARGET === 'linux-x64' ? 'linux-arm64' : 'linux-x64';
export const HOST_ABI = process.versions.modules;

/** This machine as a kiosk running `version` (config schema 1). */
export const hostAt = (version: string): HostIdentity => ({
  target: HOST_TARGET,
  nodeAbi: HOST_ABI,
  version,
  configSchema: 1,
});

export interface OpsKeys extends OnlineKeys {
  root: [SigningKey, SigningKey, SigningKey];
}

export function makeKeys(): OpsKeys {
  return {
    root: [generateSigningKey(), generateSigningKey(), generateSigningKey()],
    targets: generateSigningKey(),
    snapshot: generateSigningKey(),
    timestamp: generateSigningKey(),
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kiosk-update-${prefix}-`));
}

/** Creates a repository signed at 2 of 3 root keys (root keys 0 and 1 present). */
export async function makeRepository(dir: string, keys: OpsKeys): Promise<void> {
  await initRepository(dir, {
    ...keys,
    rootKeys: keys.root.map((k) => k.key),
    rootThreshold: 2,
    rootSigners: [keys.root[0], keys.root[1]],
  });
}

export interface FakeBundle {
  file: string;
  path: string;
  version: string;
  target: BundleTarget;
  nodeAbi: string;
}

/** Packs a tiny app tree through the production bundle code. */
export async function makeBundle(
  work: string,
  version: string,
  options: { target?: BundleTarget; nodeAbi?: string; padBytes?: number; labelTarget?: BundleTarget } = {},
): Promise<FakeBundle> {
  const target = options.target ?? HOST_TARGET;
  const nodeAbi = options.nodeAbi ?? HOST_ABI;
  const stage = join(work, `stage-${version}-${target}-${nodeAbi}-${Math.random().toString(16).slice(2)}`);
  await mkdir(join(stage, 'app', 'dist'), { recursive: true });
  await writeFile(join(stage, 'app', 'package.json'), JSON.stringify({ name: 'cccd-kiosk', version }));
  await writeFile(join(stage, 'app', 'dist', 'main.js'), `console.log('cccd-kiosk ${version}');\n`);
  if (options.padBytes) {
    // incompressible padding so download tests move a meaningful number of bytes
    await writeFile(join(stage, 'app', 'dist', 'assets.bin'), randomBytes(options.padBytes));
  }
  const file = join(
    work,
    `cccd-kiosk-${version}-${target}-abi${nodeAbi}-${Math.random().toString(16).slice(2)}.tar.gz`,
  );
  await packBundle(stage, { version, target, nodeAbi, minConfigSchema: 1, natives: {} }, file);
  const labelTarget = options.labelTarget ?? target;
  return {
    file,
    path: `releases/${version}/cccd-kiosk-${version}-${labelTarget}-abi${nodeAbi}.tar.gz`,
    version,
    target: labelTarget,
    nodeAbi,
  };
}

export async function publish(repo: string, keys: OpsKeys, bundles: FakeBundle[]): Promise<void> {
  await addTargets(
    repo,
    bundles.map((b) => ({
      path: b.path,
      file: b.file,
      custom: {
        kind: 'bundle',
        version: b.version,
        target: b.target,
        nodeAbi: b.nodeAbi,
        minConfigSchema: 1,
      },
    })),
    keys,
  );
}

/** A kiosk install root that trusts the repository's root v1 (as install.sh leaves it). */
export async function makeKioskRoot(dir: string, repo: string): Promise<void> {
  await mkdir(metadataDir(dir), { recursive: true });
  await copyFile(join(repo, 'metadata', '1.root.json'), join(metadataDir(dir), 'root.json'));
}

export interface OpsPki {
  caCert: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
}

/** An ops CA and a server certificate for 127.0.0.1 (openssl, as deploy/ does it). */
export function makeOpsPki(dir: string, cn = 'cccd ops CA'): OpsPki {
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
  ]);
  run([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  return {
    caCert: readFileSync(join(dir, 'ca.pem')),
    serverCert: readFileSync(join(dir, 'server.pem')),
    serverKey: readFileSync(join(dir, 'server.key')),
  };
}

export { serveRepository } from '../../../src/update/serve.js';

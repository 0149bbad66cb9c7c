/**
 * `kiosk-ops release`: the TUF repository of kiosk software (src/update/repository.ts).
 * Root keys are offline (2 of 3 sign); targets, snapshot and timestamp keys are online on the ops
 * server. See deploy/README.md, "Software releases", for who holds which key.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Command } from 'commander';
import { BundleManifestSchema } from '../update/manifest.js';
import { generateSigningKey, readKeyFile, writeKeyFile, type SigningKey } from '../update/keys.js';
import {
  addTargets,
  initRepository,
  renewTimestamp,
  rotateRoot,
  type OnlineKeys,
} from '../update/repository.js';
import { serveRepository } from '../update/serve.js';

const run = promisify(execFile);
const ONLINE_ROLES = ['targets', 'snapshot', 'timestamp'] as const;

async function onlineKeys(dir: string): Promise<OnlineKeys> {
  const [targets, snapshot, timestamp] = await Promise.all(
    ONLINE_ROLES.map((role) => readKeyFile(join(dir, `${role}.key`))),
  );
  return { targets: targets!, snapshot: snapshot!, timestamp: timestamp! };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

async function readKeys(files: string[]): Promise<SigningKey[]> {
  return Promise.all(files.map((file) => readKeyFile(file)));
}

export function registerReleaseCommands(
  program: Command,
  print: (value: object, text: string) => void,
): void {
  const release = program.command('release').description('signed software releases (TUF repository)');
  release
    .command('keys')
    .description('generate root-1..3.key (move them offline) and the online targets/snapshot/timestamp keys')
    .requiredOption('--out <dir>', 'directory for the key files (0600)')
    .action(async (options: { out: string }) => {
      await mkdir(options.out, { recursive: true, mode: 0o700 });
      const names = ['root-1', 'root-2', 'root-3', ...ONLINE_ROLES];
      for (const name of names) await writeKeyFile(join(options.out, `${name}.key`), generateSigningKey());
      print(
        { dir: options.out, keys: names },
        `wrote ${names.map((n) => `${n}.key`).join(', ')} in ${options.out}`,
      );
    });
  release
    .command('init')
    .description('create the repository: root v1 (all three root keys, threshold 2) signed by two of them')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--keys <dir>', 'directory with the online keys')
    .requiredOption('--root-key <file>', 'a root key (give all three; the first two sign)', collect, [])
    .action(async (options: { repo: string; keys: string; rootKey: string[] }) => {
      const root = await readKeys(options.rootKey);
      if (root.length !== 3) throw new Error('give exactly three --root-key files');
      await initRepository(options.repo, {
        ...(await onlineKeys(options.keys)),
        rootKeys: root.map((k) => k.key),
        rootThreshold: 2,
        rootSigners: root.slice(0, 2),
      });
      print(
        { repo: options.repo },
        `repository created in ${options.repo}; give kiosks ${join(options.repo, 'metadata', '1.root.json')}`,
      );
    });
  release
    .command('add')
    .description('publish bundles built by npm run bundle (targets, snapshot and timestamp re-signed)')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--keys <dir>', 'directory with the online keys')
    .argument('<bundles...>', 'bundle files (.tar.gz)')
    .action(async (bundles: string[], options: { repo: string; keys: string }) => {
      const entries = [];
      for (const file of bundles) {
        const { stdout } = await run(
          'tar',
          ['--extract', '--gzip', '--to-stdout', '--file', file, 'manifest.json'],
          {
            maxBuffer: 64 * 1024 * 1024,
          },
        );
        const m = BundleManifestSchema.parse(JSON.parse(stdout));
        const label = {
          kind: 'bundle',
          version: m.version,
          target: m.target,
          nodeAbi: m.nodeAbi,
          minConfigSchema: m.minConfigSchema,
        };
        entries.push({
          path: `releases/${m.version}/cccd-kiosk-${m.version}-${m.target}-abi${m.nodeAbi}.tar.gz`,
          file,
          custom: label,
        });
      }
      await addTargets(options.repo, entries, await onlineKeys(options.keys));
      print({ published: entries.map((e) => e.path) }, entries.map((e) => `published ${e.path}`).join('\n'));
    });
  release
    .command('timestamp')
    .description('re-sign the timestamp (daily, or kiosks refuse the repository as frozen)')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--keys <dir>', 'directory with the online keys')
    .action(async (options: { repo: string; keys: string }) => {
      await renewTimestamp(options.repo, (await onlineKeys(options.keys)).timestamp);
      print({ repo: options.repo }, 'timestamp renewed');
    });
  release
    .command('rotate-root')
    .description('new root keys: signed by two old root keys and two new ones')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--keys <dir>', 'directory with the online keys (new ones if rotated too)')
    .requiredOption('--old-key <file>', 'an old root key present at this signing (two)', collect, [])
    .requiredOption('--new-key <file>', 'a new root key (three; the first two sign)', collect, [])
    .action(async (options: { repo: string; keys: string; oldKey: string[]; newKey: string[] }) => {
      const oldKeys = await readKeys(options.oldKey);
      const newKeys = await readKeys(options.newKey);
      const version = await rotateRoot(options.repo, {
        newRootKeys: newKeys.map((k) => k.key),
        newThreshold: 2,
        online: await onlineKeys(options.keys),
        signers: [...oldKeys, ...newKeys.slice(0, 2)],
      });
      print({ rootVersion: version }, `root v${version} written`);
    });
  release
    .command('serve')
    .description('serve the repository over HTTPS (kiosks pin the ops CA that issued --cert)')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--cert <file>', 'server certificate (PEM) from the ops CA')
    .requiredOption('--key <file>', 'its private key (PEM)')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'port', (v) => Number(v), 8443)
    .action(async (options: { repo: string; cert: string; key: string; host: string; port: number }) => {
      const server = await serveRepository({
        dir: options.repo,
        cert: await readFile(options.cert),
        key: await readFile(options.key),
        host: options.host,
        port: options.port,
      });
      print({ url: server.url }, `serving ${options.repo} at ${server.url}`);
      await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
      await server.close();
    });
}

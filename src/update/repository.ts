/**
 * The operations side of TUF: writes a repository with @tufjs/models that `tuf-js` on the kiosk
 * reads. Layout (consistent snapshots, so a kiosk mid-download never sees files change under it):
 *
 *   metadata/N.root.json  every root version (kiosks walk them one by one on rotation)
 *   metadata/timestamp.json, metadata/N.snapshot.json, metadata/N.targets.json
 *   targets/<dir>/<sha256>.<name>  content-addressed targets
 *
 * Roles: root (offline, threshold 2 of 3), targets (release manager), snapshot and timestamp
 * (online, on the ops server). Timestamp expires in a day so a frozen mirror is noticed.
 */
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  Metadata,
  MetaFile,
  MetadataKind,
  Root,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
  type Key,
} from '@tufjs/models';
import type { JSONObject, JSONValue } from './json.js';
import { sha256File } from './bundle.js';
import { signerOf, type SigningKey } from './keys.js';

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_EXPIRY_DAYS = { root: 365, targets: 90, snapshot: 7, timestamp: 1 } as const;
const SPEC_VERSION = '1.0.31';

export interface OnlineKeys {
  targets: SigningKey;
  snapshot: SigningKey;
  timestamp: SigningKey;
}

export interface RepositoryInit extends OnlineKeys {
  rootKeys: Key[];
  rootThreshold: number;
  /** Root keys present at this signing (at least the threshold for the repository to be valid). */
  rootSigners: SigningKey[];
  now?: Date;
}

const expiresIn = (days: number, now: Date): string =>
  new Date(now.getTime() + days * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');

const metadataDir = (repo: string): string => join(repo, 'metadata');

function signWith<T extends Root | Targets | Snapshot | Timestamp>(
  signed: T,
  keys: SigningKey[],
): Metadata<T> {
  const metadata = new Metadata(signed);
  for (const key of keys) metadata.sign(signerOf(key), true);
  return metadata;
}

async function writeJson(
  path: string,
  metadata: Metadata<Root | Targets | Snapshot | Timestamp>,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(metadata.toJSON(), null, 1));
}

/** Root is built from its JSON form: @tufjs/models does not export Role, which sets thresholds. */
function buildRoot(version: number, keys: Key[], rootThreshold: number, online: OnlineKeys, now: Date): Root {
  const role = (ids: string[], threshold: number): JSONObject => ({ keyids: ids, threshold });
  const onlineIds = (k: SigningKey): string[] => [k.key.keyID];
  const allKeys = [...keys, online.targets.key, online.snapshot.key, online.timestamp.key];
  return Root.fromJSON({
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires: expiresIn(DEFAULT_EXPIRY_DAYS.root, now),
    consistent_snapshot: true,
    keys: Object.fromEntries(allKeys.map((key) => [key.keyID, key.toJSON() as JSONObject])),
    roles: {
      root: role(
        keys.map((key) => key.keyID),
        rootThreshold,
      ),
      targets: role(onlineIds(online.targets), 1),
      snapshot: role(onlineIds(online.snapshot), 1),
      timestamp: role(onlineIds(online.timestamp), 1),
    },
  });
}

/** Creates root v1 and empty targets, snapshot and timestamp metadata v1. */
export async function initRepository(repo: string, init: RepositoryInit): Promise<void> {
  const now = init.now ?? new Date();
  const root = buildRoot(1, init.rootKeys, init.rootThreshold, init, now);
  await writeJson(join(metadataDir(repo), '1.root.json'), signWith(root, init.rootSigners));
  await writeJson(join(metadataDir(repo), 'root.json'), signWith(root, init.rootSigners));
  const targets = new Targets({
    version: 1,
    specVersion: SPEC_VERSION,
    expires: expiresIn(DEFAULT_EXPIRY_DAYS.targets, now),
  });
  await publishTargets(repo, targets, init, now);
}

export interface ReadRepository {
  rootVersion: number;
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
}

async function readMetadata(path: string): Promise<JSONObject> {
  return JSON.parse(await readFile(path, 'utf8')) as JSONObject;
}

export async function readRepository(repo: string): Promise<ReadRepository> {
  const dir = metadataDir(repo);
  const root = Metadata.fromJSON(MetadataKind.Root, await readMetadata(join(dir, 'root.json')));
  const timestamp = Metadata.fromJSON(
    MetadataKind.Timestamp,
    await readMetadata(join(dir, 'timestamp.json')),
  );
  const snapshotVersion = timestamp.signed.snapshotMeta.version;
  const snapshot = Metadata.fromJSON(
    MetadataKind.Snapshot,
    await readMetadata(join(dir, `${snapshotVersion}.snapshot.json`)),
  );
  const targetsVersion = snapshot.signed.meta['targets.json']?.version ?? 1;
  const targets = Metadata.fromJSON(
    MetadataKind.Targets,
    await readMetadata(join(dir, `${targetsVersion}.targets.json`)),
  );
  return { rootVersion: root.signed.version, targets, snapshot, timestamp };
}

export interface TimestampOptions {
  now?: Date;
  /** Overrides the timestamp's lifetime (tests publish already-expired metadata with a negative value). */
  timestampExpiryDays?: number;
}

/** Signs and writes targets vN, a snapshot naming it, and a timestamp naming that snapshot. */
async function publishTargets(repo: string, targets: Targets, keys: OnlineKeys, now: Date): Promise<void> {
  const dir = metadataDir(repo);
  await writeJson(join(dir, `${targets.version}.targets.json`), signWith(targets, [keys.targets]));
  const previous = await readRepository(repo).catch(() => undefined);
  const snapshot = new Snapshot({
    version: (previous?.snapshot.signed.version ?? 0) + 1,
    specVersion: SPEC_VERSION,
    expires: expiresIn(DEFAULT_EXPIRY_DAYS.snapshot, now),
    meta: { 'targets.json': new MetaFile({ version: targets.version }) },
  });
  await writeJson(join(dir, `${snapshot.version}.snapshot.json`), signWith(snapshot, [keys.snapshot]));
  await writeTimestamp(
    repo,
    snapshot.version,
    (previous?.timestamp.signed.version ?? 0) + 1,
    keys.timestamp,
    { now },
  );
}

/**
 * Writes timestamp.json naming a snapshot version. Exported so the ops server can re-sign the
 * timestamp daily (freeze protection) and so tests can replay an older snapshot.
 */
export async function writeTimestamp(
  repo: string,
  snapshotVersion: number,
  version: number,
  key: SigningKey,
  options: TimestampOptions = {},
): Promise<void> {
  const now = options.now ?? new Date();
  const timestamp = new Timestamp({
    version,
    specVersion: SPEC_VERSION,
    expires: expiresIn(options.timestampExpiryDays ?? DEFAULT_EXPIRY_DAYS.timestamp, now),
    snapshotMeta: new MetaFile({ version: snapshotVersion }),
  });
  await writeJson(join(metadataDir(repo), 'timestamp.json'), signWith(timestamp, [key]));
}

/** Re-signs the timestamp for the current snapshot: run daily by the ops server. */
export async function renewTimestamp(
  repo: string,
  key: SigningKey,
  options: TimestampOptions = {},
): Promise<void> {
  const current = await readRepository(repo);
  await writeTimestamp(
    repo,
    current.snapshot.signed.version,
    current.timestamp.signed.version + 1,
    key,
    options,
  );
}

export interface TargetToAdd {
  /** Path in the repository, e.g. `releases/0.1.1/cccd-kiosk-0.1.1-linux-x64-abi115.tar.gz`. */
  path: string;
  file: string;
  custom?: Record<string, JSONValue>;
}

/** Adds (or replaces) targets, copying each file to its content-addressed place. */
export async function addTargets(
  repo: string,
  files: TargetToAdd[],
  keys: OnlineKeys,
  now = new Date(),
): Promise<void> {
  const current = await readRepository(repo);
  const targets = current.targets.signed;
  for (const entry of files) {
    const sha256 = await sha256File(entry.file);
    const length = (await stat(entry.file)).size;
    const target = new TargetFile({
      path: entry.path,
      length,
      hashes: { sha256 },
      unrecognizedFields: entry.custom ? { custom: entry.custom } : {},
    });
    targets.targets[entry.path] = target;
    const stored = join(repo, 'targets', dirname(entry.path), `${sha256}.${basename(entry.path)}`);
    await mkdir(dirname(stored), { recursive: true });
    await copyFile(entry.file, stored);
  }
  const next = new Targets({
    version: targets.version + 1,
    specVersion: SPEC_VERSION,
    expires: expiresIn(DEFAULT_EXPIRY_DAYS.targets, now),
    targets: targets.targets,
  });
  await publishTargets(repo, next, keys, now);
}

export interface RootRotation {
  newRootKeys: Key[];
  newThreshold: number;
  online: OnlineKeys;
  /** Keys signing the new root: it must meet the old root's threshold AND its own (TUF §5.3.4). */
  signers: SigningKey[];
  now?: Date;
}

/** Writes root vN+1 with new root keys (and possibly new online keys). */
export async function rotateRoot(repo: string, rotation: RootRotation): Promise<number> {
  const dir = metadataDir(repo);
  const current = Metadata.fromJSON(MetadataKind.Root, await readMetadata(join(dir, 'root.json')));
  const version = current.signed.version + 1;
  const root = buildRoot(
    version,
    rotation.newRootKeys,
    rotation.newThreshold,
    rotation.online,
    rotation.now ?? new Date(),
  );
  const signed = signWith(root, rotation.signers);
  await writeJson(join(dir, `${version}.root.json`), signed);
  await writeJson(join(dir, 'root.json'), signed);
  return version;
}

/**
 * The kiosk's side of an update: refresh TUF metadata with tuf-js, pick the bundle for this
 * kiosk's platform and Node ABI, download it (resumable, capped), verify it against the signed
 * length and hashes, unpack it into a staging directory, check its manifest, and only then move it
 * into releases/<version>. Every refusal is an UpdateRefused with its reason.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Metadata, MetadataKind, type TargetFile } from '@tufjs/models';
import { LengthOrHashMismatchError, UnsignedMetadataError } from '@tufjs/models/dist/error.js';
import { Updater } from 'tuf-js';
import { BadVersionError, DownloadError, ExpiredMetadataError } from 'tuf-js/dist/error.js';
import { z } from 'zod';
import { unpackBundle } from './bundle.js';
import { downloadResumable } from './download.js';
import { UpdateRefused } from './errors.js';
import type { JSONObject } from './json.js';
import { assertInstallable, BUNDLE_TARGETS, compareVersions, type HostIdentity } from './manifest.js';
import { releasesDir, updateDir } from './releases.js';
import { SourceFetcher, sourceBaseUrl, type UpdateSource } from './transport.js';

export const metadataDir = (root: string): string => join(updateDir(root), 'metadata');
const downloadsDir = (root: string): string => join(updateDir(root), 'downloads');

/** What `kiosk-ops release` writes into each bundle target's `custom` field. */
export const BundleLabelSchema = z.object({
  kind: z.literal('bundle'),
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  target: z.enum(BUNDLE_TARGETS),
  nodeAbi: z.string().regex(/^\d+$/),
  minConfigSchema: z.number().int().min(1),
});
export type BundleLabel = z.infer<typeof BundleLabelSchema>;

export interface StageRequest {
  root: string;
  source: UpdateSource;
  host: HostIdentity;
  /** A version from a rollout; the newest signed version when absent. */
  version?: string;
  maxBytesPerSecond?: number;
  signal?: AbortSignal;
  /** Download progress (bytes on disk, signed length). */
  onProgress?: (written: number, length: number) => void;
}

export interface StagedRelease {
  version: string;
  dir: string;
  /** Bundle bytes received over the wire in this call. */
  received: number;
  bundleLength: number;
}

export async function stageUpdate(request: StageRequest): Promise<StagedRelease> {
  const updater = new Updater({
    metadataDir: metadataDir(request.root),
    metadataBaseUrl: `${sourceBaseUrl(request.source)}metadata/`,
    targetBaseUrl: `${sourceBaseUrl(request.source)}targets/`,
    fetcher: new SourceFetcher(request.source),
  });
  await refreshOrRefuse(updater, request.root);
  const label = await chooseBundle(request);
  const info = await updater.getTargetInfo(label.path);
  if (info === undefined)
    throw new UpdateRefused('not-in-metadata', `${label.path} is not in signed metadata`);
  const { partFile, received } = await downloadVerified(request, info);
  const dir = await landRelease(request, partFile, label);
  return { version: label.version, dir, received, bundleLength: info.length };
}

async function refreshOrRefuse(updater: Updater, root: string): Promise<void> {
  try {
    await updater.refresh();
  } catch (error) {
    throw await classifyMetadataError(error, root);
  }
}

/**
 * tuf-js throws typed errors for root and timestamp, but wraps snapshot and targets failures in a
 * RuntimeError carrying only text. For those we look at the metadata it had accepted so far: an
 * expired timestamp shows there, so freeze attacks still get their own reason.
 */
async function classifyMetadataError(error: unknown, root: string): Promise<UpdateRefused> {
  if (error instanceof UpdateRefused) return error;
  if (error instanceof UnsignedMetadataError)
    return new UpdateRefused(
      'below-threshold',
      'metadata is signed by fewer trusted keys than its threshold',
    );
  if (error instanceof ExpiredMetadataError)
    return new UpdateRefused('expired-metadata', 'signed metadata has expired');
  if (error instanceof BadVersionError)
    return new UpdateRefused('rollback', 'metadata is older than metadata this kiosk already trusts');
  if (error instanceof DownloadError || isNetworkError(error))
    return new UpdateRefused('unreachable', 'update repository cannot be reached');
  if (await trustedTimestampExpired(root))
    return new UpdateRefused('expired-metadata', 'timestamp metadata has expired');
  return new UpdateRefused('bad-metadata', 'signed metadata is malformed or inconsistent');
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(E[A-Z]+|ERR_TLS|UNABLE_TO|SELF_SIGNED|DEPTH_ZERO|CERT_)/.test(code);
}

async function trustedTimestampExpired(root: string): Promise<boolean> {
  try {
    const json = JSON.parse(await readFile(join(metadataDir(root), 'timestamp.json'), 'utf8')) as JSONObject;
    return Metadata.fromJSON(MetadataKind.Timestamp, json).signed.isExpired();
  } catch {
    return false;
  }
}

type LabelledTarget = BundleLabel & { path: string };

/**
 * Reads the targets metadata tuf-js has just verified and persisted, and picks this kiosk's
 * bundle of the wanted version. Reasons are specific: no such version at all, only other
 * platforms, only other ABIs, or older than what runs.
 */
async function chooseBundle(request: StageRequest): Promise<LabelledTarget> {
  const json = JSON.parse(
    await readFile(join(metadataDir(request.root), 'targets.json'), 'utf8'),
  ) as JSONObject;
  const targets = Metadata.fromJSON(MetadataKind.Targets, json).signed.targets;
  const bundles: LabelledTarget[] = [];
  for (const [path, target] of Object.entries(targets)) {
    const label = BundleLabelSchema.safeParse(target.custom);
    if (label.success) bundles.push({ ...label.data, path });
  }
  const version =
    request.version ??
    bundles
      .map((b) => b.version)
      .sort(compareVersions)
      .at(-1) ??
    request.host.version;
  const ofVersion = bundles.filter((b) => b.version === version);
  if (ofVersion.length === 0)
    throw new UpdateRefused('not-in-metadata', `no bundle ${version} in signed metadata`);
  const forTarget = ofVersion.filter((b) => b.target === request.host.target);
  const chosen = forTarget.find((b) => b.nodeAbi === request.host.nodeAbi) ?? forTarget[0] ?? ofVersion[0]!;
  assertInstallable(chosen, request.host);
  return chosen;
}

async function downloadVerified(
  request: StageRequest,
  info: TargetFile,
): Promise<{ partFile: string; received: number }> {
  const sha256 = info.hashes['sha256'];
  if (sha256 === undefined) throw new UpdateRefused('bad-metadata', 'target has no sha256 hash');
  await mkdir(downloadsDir(request.root), { recursive: true });
  const partFile = join(downloadsDir(request.root), `${sha256}.part`);
  const stored = `${dirname(info.path)}/${sha256}.${basename(info.path)}`.replace(/^\.\//, '');
  const { received } = await downloadResumable({
    url: `${sourceBaseUrl(request.source)}targets/${stored}`,
    source: request.source,
    partFile,
    length: info.length,
    maxBytesPerSecond: request.maxBytesPerSecond,
    // the unpacked release is about the size of the gzip's contents; keep three times the bundle free
    reserveBytes: info.length * 3,
    signal: request.signal,
    onProgress: request.onProgress,
  });
  try {
    await info.verify(createReadStream(partFile));
  } catch (error) {
    // a bad download must not be resumed from: start clean next time
    await rm(partFile, { force: true });
    if (error instanceof LengthOrHashMismatchError)
      throw new UpdateRefused('tampered-target', 'bundle does not match its signed length and hashes');
    throw error;
  }
  return { partFile, received };
}

async function landRelease(request: StageRequest, partFile: string, label: LabelledTarget): Promise<string> {
  await mkdir(releasesDir(request.root), { recursive: true });
  const staging = join(releasesDir(request.root), `.staging-${label.version}`);
  await rm(staging, { recursive: true, force: true });
  const manifest = await unpackBundle(partFile, staging);
  try {
    assertInstallable(manifest, request.host);
    if (manifest.version !== label.version)
      throw new UpdateRefused(
        'bad-bundle',
        `bundle says ${manifest.version}, metadata says ${label.version}`,
      );
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const dir = join(releasesDir(request.root), label.version);
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  await rm(partFile, { force: true });
  return dir;
}

/** Seeds the trusted root on a new kiosk (install.sh copies the ops' root.json here). */
export async function trustRoot(root: string, rootJson: Buffer): Promise<void> {
  Metadata.fromJSON(MetadataKind.Root, JSON.parse(rootJson.toString('utf8')) as JSONObject);
  await mkdir(metadataDir(root), { recursive: true });
  await writeFile(join(metadataDir(root), 'root.json'), rootJson);
}

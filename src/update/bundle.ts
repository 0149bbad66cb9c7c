/**
 * Release bundles: a gzip tarball holding `manifest.json` and the app tree under `app/`.
 * Packing and checking share one walk, so a bundle the builder writes is exactly what the kiosk
 * accepts. The tarball is reproducible (sorted names, zero mtimes and owners, `gzip -n`), so the
 * same tree gives the same sha256 in the TUF targets metadata.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { UpdateRefused } from './errors.js';
import { BundleManifestSchema, type BundleManifest } from './manifest.js';

const run = promisify(execFile);

export const MANIFEST_FILE = 'manifest.json';
export const APP_DIR = 'app';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Every regular file under `root` by relative POSIX path. Symbolic links are refused: the kiosk
 * would otherwise unpack a link that points outside its release directory. (`node_modules/.bin`
 * holds only links to CLI entry points the runtime never calls, so the builder leaves it out.)
 */
export async function listFiles(root: string, dir = root): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink())
      throw new UpdateRefused('bad-bundle', `symbolic link in bundle tree: ${relative(root, path)}`);
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)));
    else if (entry.isFile()) files.push(relative(root, path).split(sep).join('/'));
  }
  return files.sort();
}

export async function hashTree(root: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const path of await listFiles(root)) files[path] = await sha256File(join(root, path));
  return files;
}

export type ManifestLabel = Omit<BundleManifest, 'format' | 'name' | 'files'>;

/**
 * Writes `stageDir/manifest.json` for the tree in `stageDir/app` and packs both into `outFile`.
 * Returns the manifest written.
 */
export async function packBundle(
  stageDir: string,
  label: ManifestLabel,
  outFile: string,
): Promise<BundleManifest> {
  const manifest = BundleManifestSchema.parse({
    format: 1,
    name: 'cccd-kiosk',
    ...label,
    files: await hashTree(join(stageDir, APP_DIR)),
  });
  await writeFile(join(stageDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  await run('tar', [
    '--create',
    '--file',
    outFile,
    '--use-compress-program',
    'gzip -n -6',
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mode=go-w',
    '-C',
    stageDir,
    MANIFEST_FILE,
    APP_DIR,
  ]);
  return manifest;
}

/**
 * Unpacks a bundle whose tarball hash was already verified against signed metadata into `destDir`
 * (which must not exist), then checks the tree against its manifest: every listed file present with
 * its sha256, nothing unlisted. Returns the manifest; on any mismatch removes `destDir` and throws.
 */
export async function unpackBundle(bundleFile: string, destDir: string): Promise<BundleManifest> {
  await mkdir(destDir);
  try {
    await run('tar', ['--extract', '--gzip', '--file', bundleFile, '--no-same-owner', '-C', destDir]);
    return await checkUnpacked(destDir);
  } catch (error) {
    await rm(destDir, { recursive: true, force: true });
    if (error instanceof UpdateRefused) throw error;
    throw new UpdateRefused('bad-bundle', 'bundle cannot be unpacked');
  }
}

export async function readManifest(releaseDir: string): Promise<BundleManifest> {
  const parsed = BundleManifestSchema.safeParse(
    JSON.parse(await readFile(join(releaseDir, MANIFEST_FILE), 'utf8')),
  );
  if (!parsed.success) throw new UpdateRefused('bad-bundle', 'bundle manifest is malformed');
  return parsed.data;
}

async function checkUnpacked(destDir: string): Promise<BundleManifest> {
  const topLevel = (await readdir(destDir)).sort();
  if (topLevel.join(',') !== [APP_DIR, MANIFEST_FILE].join(','))
    throw new UpdateRefused('bad-bundle', 'bundle holds more than manifest.json and app/');
  if (!(await lstat(join(destDir, APP_DIR))).isDirectory())
    throw new UpdateRefused('bad-bundle', 'app/ is not a directory');
  const manifest = await readManifest(destDir);
  const actual = await hashTree(join(destDir, APP_DIR));
  for (const [path, hash] of Object.entries(manifest.files)) {
    if (actual[path] === undefined)
      throw new UpdateRefused('bad-bundle', `file missing from bundle: ${path}`);
    if (actual[path] !== hash) throw new UpdateRefused('bad-bundle', `file does not match manifest: ${path}`);
  }
  const unlisted = Object.keys(actual).find((path) => manifest.files[path] === undefined);
  if (unlisted !== undefined) throw new UpdateRefused('bad-bundle', `file not in manifest: ${unlisted}`);
  return manifest;
}

/**
 * `npm run bundle`: the built app plus its production node_modules, packed as a release bundle for
 * one target. Production packages are read from package-lock.json (entries not marked dev), so the
 * bundle holds exactly what `npm ci --omit=dev` would install, without a network.
 *
 * Native modules (a package with binding.gyp) must match the target:
 * - host target: the binaries built by this tree's `npm ci` are for this machine and Node ABI;
 *   they are kept (build/Release/*.node only, not the intermediate objects);
 * - other target: a package's own prebuilds/<target>/ serve when it has them (node-gyp-build picks
 *   them); the others are cross-compiled when a target root is given (src/update/cross-build.ts),
 *   and refused by name when it is not.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { CONFIG_SCHEMA_VERSION } from '../config/schema-version.js';
import { pathExists } from '../util/path-exists.js';
import { APP_DIR, packBundle } from './bundle.js';
import { checkCrossSetup, crossCompile, type CrossBuildSetup } from './cross-build.js';
import { hostTarget, type BundleManifest, type BundleTarget } from './manifest.js';

const run = promisify(execFile);

export class BundleBuildError extends Error {
  override readonly name = 'BundleBuildError';
}

export interface AppBundleRequest {
  projectDir: string;
  outDir: string;
  target: BundleTarget;
  /** The Node ABI of the kiosks (process.versions.modules); the host's when absent. */
  nodeAbi?: string;
  /** Run `npm run build` first (false when dist/ is already built, as in tests). */
  build?: boolean;
  /**
   * A Debian tree of the target's architecture (scripts/target-root.sh): with it, native modules
   * without prebuilds for another target are cross-compiled against its libraries.
   */
  targetRoot?: string;
}

export interface BuiltBundle {
  file: string;
  manifest: BundleManifest;
}

const LockSchema = z.object({
  lockfileVersion: z.number().int().min(2),
  packages: z.record(
    z.string(),
    z.object({
      dev: z.boolean().optional(),
      devOptional: z.boolean().optional(),
      link: z.boolean().optional(),
    }),
  ),
});
const PackageSchema = z.object({ name: z.string(), version: z.string() });

/** node_modules paths of the production packages, parents before children. */
export async function productionPackages(projectDir: string): Promise<string[]> {
  const lock = LockSchema.parse(JSON.parse(await readFile(join(projectDir, 'package-lock.json'), 'utf8')));
  return Object.entries(lock.packages)
    .filter(
      ([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.devOptional && !entry.link,
    )
    .map(([path]) => path)
    .sort();
}

/**
 * Files the runtime reads from the source tree beside dist/ (tsc does not copy them): the
 * touchscreen app and the ops dashboard (src/ui/app-page.ts, src/ops/dashboard/page.ts look for
 * them there). Without them a release does not start: the UI server refuses to come up (found by
 * test/integration/update/runtime-update.test.ts and rollback.test.ts).
 */
export const RUNTIME_ASSET_DIRS = ['src/ui/public', 'src/ops/dashboard/public'] as const;

export async function copyRuntimeAssets(projectDir: string, appDir: string): Promise<void> {
  for (const dir of RUNTIME_ASSET_DIRS)
    await cp(join(projectDir, dir), join(appDir, dir), { recursive: true });
}

/** Copies one package without its nested node_modules (those are lock entries of their own). */

async function copyPackage(from: string, to: string): Promise<void> {
  await cp(from, to, {
    recursive: true,
    dereference: false,
    filter: (source) => source === from || !source.slice(from.length + 1).startsWith('node_modules'),
  });
}

async function copyProduction(projectDir: string, appDir: string): Promise<void> {
  for (const path of await productionPackages(projectDir)) {
    // optional dependencies for other platforms are in the lock but not on disk: skip them
    if (await pathExists(join(projectDir, path)))
      await copyPackage(join(projectDir, path), join(appDir, path));
  }
}

async function nativePackages(appDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const pkg = join(dir, entry.name);
      if (entry.name.startsWith('@')) await walk(pkg);
      else {
        if (await pathExists(join(pkg, 'binding.gyp'))) found.push(pkg);
        await walk(join(pkg, 'node_modules'));
      }
    }
  };
  await walk(join(appDir, 'node_modules'));
  return found.sort();
}

async function nameOf(pkgDir: string): Promise<string> {
  return PackageSchema.parse(JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'))).name;
}

/**
 * Makes each native package carry a binary for the target, or throws naming those that cannot:
 * the host's own build, else the package's prebuilds, else a cross-compile when a root is given.
 */
async function prepareNatives(
  appDir: string,
  target: BundleTarget,
  cross: CrossBuildSetup | undefined,
): Promise<BundleManifest['natives']> {
  const natives: BundleManifest['natives'] = {};
  const missing: string[] = [];
  const forHost = target === hostTarget();
  for (const pkg of await nativePackages(appDir)) {
    const name = await nameOf(pkg);
    const prebuilds = join(pkg, 'prebuilds');
    if (forHost && (await pathExists(join(pkg, 'build', 'Release')))) {
      await keepOnlyAddons(join(pkg, 'build'));
      natives[name] = 'host-build';
    } else if (await pathExists(join(prebuilds, target))) {
      await rm(join(pkg, 'build'), { recursive: true, force: true });
      for (const platform of await readdir(prebuilds))
        if (platform !== target) await rm(join(prebuilds, platform), { recursive: true, force: true });
      natives[name] = 'prebuilt';
    } else if (cross && !forHost) {
      await crossCompile(pkg, cross);
      await keepOnlyAddons(join(pkg, 'build'));
      natives[name] = 'cross-build';
    } else missing.push(name);
  }
  if (missing.length > 0)
    throw new BundleBuildError(
      `no ${target} binary for native module(s) ${missing.join(', ')}: give --target-root to ` +
        `cross-compile them (scripts/target-root.sh ${target} DIR makes one), or build this bundle ` +
        `on a ${target} machine`,
    );
  return natives;
}

/** build/ keeps only Release/*.node: objects, archives and makefiles are not needed at run time. */
async function keepOnlyAddons(buildDir: string): Promise<void> {
  for (const entry of await readdir(buildDir))
    if (entry !== 'Release') await rm(join(buildDir, entry), { recursive: true, force: true });
  const release = join(buildDir, 'Release');
  for (const entry of await readdir(release))
    if (!entry.endsWith('.node')) await rm(join(release, entry), { recursive: true, force: true });
}

/** Drops node_modules/.bin (links to CLIs the runtime never runs) and any other symlink. */
async function dropLinks(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) await rm(path);
    else if (entry.isDirectory())
      await (entry.name === '.bin' ? rm(path, { recursive: true }) : dropLinks(path));
  }
}

export async function buildAppBundle(request: AppBundleRequest): Promise<BuiltBundle> {
  const { projectDir, target } = request;
  if (request.build !== false) await run('npm', ['run', 'build'], { cwd: projectDir });
  const pkg = PackageSchema.parse(JSON.parse(await readFile(join(projectDir, 'package.json'), 'utf8')));
  const nodeAbi = request.nodeAbi ?? process.versions.modules;
  if (target !== hostTarget() && nodeAbi !== process.versions.modules)
    throw new BundleBuildError(
      'a bundle for another target is made with the host Node ABI only (prebuilds and cross-compiles use its headers)',
    );
  const cross: CrossBuildSetup | undefined =
    request.targetRoot === undefined ? undefined : { target, targetRoot: request.targetRoot, projectDir };
  if (cross && target !== hostTarget()) await checkCrossSetup(cross);
  const stage = await mkdtemp(join(tmpdir(), 'cccd-bundle-'));
  try {
    const appDir = join(stage, APP_DIR);
    await mkdir(appDir);
    await cp(join(projectDir, 'dist'), join(appDir, 'dist'), { recursive: true });
    await copyRuntimeAssets(projectDir, appDir);
    for (const file of ['package.json', 'package-lock.json'])
      await cp(join(projectDir, file), join(appDir, file));
    await copyProduction(projectDir, appDir);
    await dropLinks(appDir);
    const natives = await prepareNatives(appDir, target, cross);
    await mkdir(request.outDir, { recursive: true });
    const file = join(request.outDir, `cccd-kiosk-${pkg.version}-${target}-abi${nodeAbi}.tar.gz`);
    const manifest = await packBundle(
      stage,
      { version: pkg.version, target, nodeAbi, minConfigSchema: CONFIG_SCHEMA_VERSION, natives },
      file,
    );
    return { file, manifest };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

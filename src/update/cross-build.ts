/**
 * Native modules compiled on this machine for another target (`npm run bundle -- --target
 * linux-arm64 --target-root DIR` on an x64 build host), so a Pi fleet gets a bundle without an
 * arm64 build machine.
 *
 * - Compiler: Debian's cross toolchain for the target (crossbuild-essential-arm64 gives
 *   aarch64-linux-gnu-gcc/g++), driven by node-gyp's make generator through CC, CXX, LINK and AR.
 * - Node headers: this machine's (`--nodedir`). A bundle is built for the host's Node ABI only
 *   (build-app.ts refuses another), and the headers of one ABI are the same on every CPU.
 * - Libraries the modules link against (pcsclite's libpcsclite.so): the target root, a Debian
 *   tree of the target's architecture (scripts/target-root.sh makes one with mmdebstrap). The same
 *   tree's Node runs the result under qemu-user in test/integration/update/bundle-cross.test.ts.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pathExists } from '../util/path-exists.js';
import type { BundleTarget } from './manifest.js';

const run = promisify(execFile);

/** How node-gyp, GNU and Debian name each target's CPU. */
export const CROSS_TOOLCHAINS: Record<
  BundleTarget,
  { gypArch: string; triplet: string; debianArch: string }
> = {
  'linux-arm64': { gypArch: 'arm64', triplet: 'aarch64-linux-gnu', debianArch: 'arm64' },
  'linux-x64': { gypArch: 'x64', triplet: 'x86_64-linux-gnu', debianArch: 'amd64' },
};

export class CrossBuildError extends Error {
  override readonly name = 'CrossBuildError';
}

export interface CrossBuildSetup {
  target: BundleTarget;
  /** a Debian tree of the target's architecture holding the libraries the modules link against */
  targetRoot: string;
  /** the project whose node-gyp is used */
  projectDir: string;
}

/** The directory whose include/node holds this Node's headers (node-gyp's --nodedir). */
async function nodeHeadersDir(): Promise<string> {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..')];
  for (const dir of candidates)
    if (dir !== undefined && (await pathExists(join(dir, 'include', 'node', 'node_api.h')))) return dir;
  throw new CrossBuildError(
    `no headers for Node ${process.version} beside ${process.execPath}: install them (Debian: the ` +
      'nodejs package of the fleet, or libnode-dev) or set npm_config_nodedir',
  );
}

function nodeGypScript(projectDir: string): string {
  try {
    return createRequire(join(projectDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    throw new CrossBuildError('node-gyp is not installed in this project: run `npm ci` first');
  }
}

/** Checks the toolchain and the target root once, before any package is compiled. */
export async function checkCrossSetup(setup: CrossBuildSetup): Promise<void> {
  const { triplet, debianArch } = CROSS_TOOLCHAINS[setup.target];
  if (!(await pathExists(join(setup.targetRoot, 'usr', 'lib', triplet))))
    throw new CrossBuildError(
      `${setup.targetRoot} is not a ${setup.target} root (no usr/lib/${triplet}): make one with ` +
        `scripts/target-root.sh ${setup.target} DIR`,
    );
  const compiler = `${triplet}-g++`;
  await run(compiler, ['--version']).catch(() => {
    throw new CrossBuildError(`no ${compiler} on PATH: install Debian's crossbuild-essential-${debianArch}`);
  });
}

/** Compiles the native package in `packageDir` (inside the staged app) for the setup's target. */
export async function crossCompile(packageDir: string, setup: CrossBuildSetup): Promise<void> {
  const { gypArch, triplet } = CROSS_TOOLCHAINS[setup.target];
  const libDir = join(setup.targetRoot, 'usr', 'lib', triplet);
  const env = {
    ...process.env,
    CC: `${triplet}-gcc`,
    CXX: `${triplet}-g++`,
    LINK: `${triplet}-g++`,
    AR: `${triplet}-ar`,
    // the target's libraries, for -l flags and for their own dependencies at link time
    LDFLAGS: `-L${libDir} -Wl,-rpath-link,${libDir}`,
  };
  const args = [
    nodeGypScript(setup.projectDir),
    'rebuild',
    `--arch=${gypArch}`,
    `--nodedir=${await nodeHeadersDir()}`,
    '--jobs=max',
  ];
  await run(process.execPath, args, { cwd: packageDir, env, maxBuffer: 64 * 1024 * 1024 }).catch(
    (error: unknown) => {
      const output = error instanceof Error && 'stderr' in error ? String(error.stderr) : '';
      const lastLines = output.trim().split('\n').slice(-8).join('\n');
      throw new CrossBuildError(`cross-compiling ${packageDir} for ${setup.target} failed:\n${lastLines}`);
    },
  );
}

/**
 * Issue 14, item 1: release bundles as `npm run bundle` makes them, run as a kiosk runs them.
 * - For this machine's target: the bundle's kiosk CLI starts, its store opens a real SQLite file,
 *   and every native module loads, under this Node.
 * - For the other target (linux-arm64, the Pi fleet, from an x64 build host): native modules
 *   without prebuilds are cross-compiled against a Debian root of that CPU (scripts/target-root.sh),
 *   and the unpacked bundle runs under qemu-user with that root's Node 20: the same CLI, store and
 *   modules. Every addon in the bundle is an ELF for the target's CPU.
 */
import { execFile } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DIR, unpackBundle } from '../../../src/update/bundle.js';
import type { BundleManifest, BundleTarget } from '../../../src/update/manifest.js';
import { HOST_TARGET, OTHER_TARGET, tempDir } from './fixtures.js';
import { assertBuilt } from './rollback-rig.js';

const run = promisify(execFile);
const PROJECT = process.cwd();
const PROBE = join(PROJECT, 'test', 'integration', 'update', 'bundle-probe.mjs');
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** ELF e_machine of each target's CPU (System V ABI, ELF header; Linux elf-em.h) */
const ELF_MACHINE: Record<BundleTarget, number> = { 'linux-x64': 62, 'linux-arm64': 183 };
const QEMU: Record<BundleTarget, string> = { 'linux-x64': 'qemu-x86_64', 'linux-arm64': 'qemu-aarch64' };

const workDirs: string[] = [];

interface UnpackedBundle {
  appDir: string;
  manifest: BundleManifest;
}

/** `npm run bundle` as a release engineer runs it, then the kiosk's own unpack (checks every hash). */
async function bundleAndUnpack(target: BundleTarget, extraArgs: string[] = []): Promise<UnpackedBundle> {
  const work = tempDir(`npm-bundle-${target}`);
  workDirs.push(work);
  const out = join(work, 'out');
  const args = ['run', 'bundle', '--', '--target', target, '--no-build', '--out', out, ...extraArgs];
  const { stdout } = await run('npm', args, { cwd: PROJECT, maxBuffer: 16 * 1024 * 1024 });
  const file = /^bundle: (.+)$/m.exec(stdout)?.[1];
  if (!file) throw new Error(`npm run bundle printed no bundle:\n${stdout}`);
  const unpacked = join(work, 'unpacked');
  const manifest = await unpackBundle(file, unpacked);
  return { appDir: join(unpacked, APP_DIR), manifest };
}

async function elfMachine(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { buffer } = await handle.read(Buffer.alloc(20), 0, 20, 0);
    if (buffer.subarray(0, 4).toString('latin1') !== '\x7fELF') return -1;
    return buffer.readUInt16LE(18);
  } finally {
    await handle.close();
  }
}

interface ProbeResult {
  arch: string;
  nodeAbi: string;
  outboxDepth: number;
  loadedAddons: string[];
}

/** Runs the bundle's kiosk CLI and the probe with `node` (a command prefix: a Node, or qemu + a Node). */
async function runBundle(node: string[], appDir: string): Promise<{ version: string; probe: ProbeResult }> {
  const [command, ...prefix] = node as [string, ...string[]];
  const cli = await run(command, [...prefix, join(appDir, 'dist', 'src', 'cli', 'kiosk.js'), '--version']);
  const storeDir = tempDir('bundle-store');
  workDirs.push(storeDir);
  const store = join(storeDir, 'kiosk.sqlite');
  const probe = await run(command, [...prefix, PROBE, appDir, store]);
  return { version: cli.stdout.trim(), probe: JSON.parse(probe.stdout) as ProbeResult };
}

/** The addons a kiosk of `target` loads: its prebuilds for glibc, and every build/Release addon. */
function addonsFor(manifest: BundleManifest): string[] {
  return Object.keys(manifest.files)
    .filter((file) => file.endsWith('.node') && !file.includes('.musl.'))
    .sort();
}

async function expectElfFor(target: BundleTarget, appDir: string, manifest: BundleManifest): Promise<void> {
  const addons = Object.keys(manifest.files).filter((file) => file.endsWith('.node'));
  expect(addons.length).toBeGreaterThanOrEqual(4);
  for (const addon of addons)
    expect([addon, await elfMachine(join(appDir, addon))]).toEqual([addon, ELF_MACHINE[target]]);
}

describe('npm run bundle, run as a kiosk runs it', () => {
  beforeAll(async () => {
    await assertBuilt();
  });
  afterAll(async () => {
    // each unpacked bundle is some 100 MB
    for (const dir of workDirs) await rm(dir, { recursive: true, force: true });
  });

  it(
    `for this machine (${HOST_TARGET}): the CLI starts, the store opens, every native module loads`,
    { timeout: BUILD_TIMEOUT_MS },
    async () => {
      const { appDir, manifest } = await bundleAndUnpack(HOST_TARGET);
      expect(manifest.target).toBe(HOST_TARGET);
      expect(Object.values(manifest.natives)).not.toContain('cross-build');
      await expectElfFor(HOST_TARGET, appDir, manifest);

      const { version: printed, probe } = await runBundle([process.execPath], appDir);
      expect(printed).toBe(manifest.version);
      expect(probe).toMatchObject({ nodeAbi: manifest.nodeAbi, outboxDepth: 1 });
      expect(probe.loadedAddons).toEqual(addonsFor(manifest));
    },
  );

  it(
    `for ${OTHER_TARGET} from this machine: cross-compiled natives run under qemu-user with that CPU's Node`,
    { timeout: BUILD_TIMEOUT_MS },
    async () => {
      const root = join(PROJECT, '.cache', 'target-roots', OTHER_TARGET);
      await run('bash', [join(PROJECT, 'scripts', 'target-root.sh'), OTHER_TARGET, root], {
        timeout: BUILD_TIMEOUT_MS,
      });
      const { appDir, manifest } = await bundleAndUnpack(OTHER_TARGET, ['--target-root', root]);
      expect(manifest.target).toBe(OTHER_TARGET);
      expect(manifest.natives).toMatchObject({
        sqlite3: 'cross-build',
        pcsclite: 'cross-build',
        epoll: 'cross-build',
      });
      await expectElfFor(OTHER_TARGET, appDir, manifest);

      const targetNode = [QEMU[OTHER_TARGET], '-L', root, join(root, 'usr', 'bin', 'node')];
      const { version: printed, probe } = await runBundle(targetNode, appDir);
      expect(printed).toBe(manifest.version);
      expect(probe).toMatchObject({
        arch: OTHER_TARGET.replace('linux-', ''),
        nodeAbi: manifest.nodeAbi,
        outboxDepth: 1,
      });
      expect(probe.loadedAddons).toEqual(addonsFor(manifest));
    },
  );
});

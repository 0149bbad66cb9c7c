/**
 * Issue 14, item 1: release bundles. A tiny fake project goes through the same code path as
 * `npm run bundle` (src/update/build-app.ts): production packages only, native modules for the
 * host kept as built binaries, for another target from the package's prebuilds or refused (the
 * cross-compile itself runs on the real project in bundle-cross.test.ts),
 * manifest with version, target, ABI, schema and the sha256 of every file, checked on unpack.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_DIR, packBundle, sha256File, unpackBundle } from '../../../src/update/bundle.js';
import {
  type AppBundleRequest,
  buildAppBundle,
  BundleBuildError,
  type BuiltBundle,
} from '../../../src/update/build-app.js';
import { CrossBuildError } from '../../../src/update/cross-build.js';
import { type UpdateRefused } from '../../../src/update/errors.js';
import type { BundleTarget } from '../../../src/update/manifest.js';
import { HOST_ABI, HOST_TARGET, OTHER_TARGET, tempDir } from './fixtures.js';

async function put(path: string, content: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
}

/** A project tree: one production package, one dev package, a host-built native, a prebuilt native. */
async function fakeProject(options: { hostOnlyNative: boolean }): Promise<string> {
  const dir = tempDir('project');
  const nm = join(dir, 'node_modules');
  await put(join(dir, 'package.json'), JSON.stringify({ name: 'cccd-kiosk', version: '0.3.0' }));
  await put(join(dir, 'dist', 'src', 'cli', 'kiosk.js'), 'console.log("kiosk");\n');
  // read from the source tree at run time (src/ui/app-page.ts): a release without them does not start
  await put(join(dir, 'src', 'ui', 'public', 'app.js'), '// touchscreen app\n');
  await put(join(dir, 'src', 'ops', 'dashboard', 'public', 'app.js'), '// dashboard\n');
  const packages: Record<string, object> = { '': { name: 'cccd-kiosk', version: '0.3.0' } };
  const pkg = async (name: string, entry: object, files: Record<string, string>) => {
    packages[`node_modules/${name}`] = { version: '1.0.0', ...entry };
    await put(join(nm, name, 'package.json'), JSON.stringify({ name, version: '1.0.0' }));
    for (const [file, content] of Object.entries(files)) await put(join(nm, name, file), content);
  };
  await pkg('prod-a', {}, { 'index.js': 'module.exports = 1;\n' });
  await pkg('dev-b', { dev: true }, { 'index.js': 'module.exports = 2;\n' });
  if (options.hostOnlyNative)
    await pkg(
      'native-c',
      {},
      {
        'binding.gyp': '{}',
        'build/Release/c.node': 'ELF host binary',
        'build/Release/obj.target/c.o': 'object file',
        'build/Makefile': 'all:',
      },
    );
  await pkg(
    '@scope/native-d',
    {},
    {
      'binding.gyp': '{}',
      'prebuilds/linux-x64/d.node': 'x64 binary',
      'prebuilds/linux-arm64/d.node': 'arm64 binary',
      'prebuilds/darwin-x64+arm64/d.node': 'mac binary',
    },
  );
  await mkdir(join(nm, '.bin'), { recursive: true });
  await symlink('../prod-a/index.js', join(nm, '.bin', 'prod-a'));
  await put(join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages }));
  return dir;
}

/** The production packer on a fake project, as `npm run bundle -- --no-build` runs it. */
function bundleOf(
  project: string,
  target: BundleTarget,
  out = 'out',
  extra: Partial<AppBundleRequest> = {},
): Promise<BuiltBundle> {
  return buildAppBundle({ projectDir: project, outDir: join(project, out), target, build: false, ...extra });
}

describe('release bundles', () => {
  it('bundles the app for the host with production packages and host-built natives', async () => {
    const project = await fakeProject({ hostOnlyNative: true });
    const built = await bundleOf(project, HOST_TARGET);
    const files = Object.keys(built.manifest.files);
    expect(built.manifest).toMatchObject({
      version: '0.3.0',
      target: HOST_TARGET,
      nodeAbi: HOST_ABI,
      minConfigSchema: 1,
    });
    expect(built.manifest.natives).toEqual({ 'native-c': 'host-build', '@scope/native-d': 'prebuilt' });
    expect(files).toContain('dist/src/cli/kiosk.js');
    expect(files).toContain('src/ui/public/app.js');
    expect(files).toContain('src/ops/dashboard/public/app.js');
    expect(files).toContain('node_modules/prod-a/index.js');
    expect(files).toContain('node_modules/native-c/build/Release/c.node');
    expect(files).toContain(`node_modules/@scope/native-d/prebuilds/${HOST_TARGET}/d.node`);
    expect(
      files.filter((f) => f.startsWith('node_modules/dev-b') || f.includes('.bin') || f.endsWith('.o')),
    ).toEqual([]);

    const unpacked = join(project, 'unpacked');
    const manifest = await unpackBundle(built.file, unpacked);
    expect(manifest.files['dist/src/cli/kiosk.js']).toBe(
      await sha256File(join(unpacked, APP_DIR, 'dist/src/cli/kiosk.js')),
    );
  });

  it('is reproducible: the same tree gives the same bundle bytes', async () => {
    const project = await fakeProject({ hostOnlyNative: true });
    const first = await bundleOf(project, HOST_TARGET, 'a');
    const second = await bundleOf(project, HOST_TARGET, 'b');
    expect(await sha256File(second.file)).toBe(await sha256File(first.file));
  });

  it('refuses a cross-target bundle when a native module has no prebuilt binary for it, naming it', async () => {
    const project = await fakeProject({ hostOnlyNative: true });
    const error = await bundleOf(project, OTHER_TARGET).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BundleBuildError);
    expect((error as Error).message).toContain('native-c');
  });

  it('refuses to cross-compile against a directory that is not a root of the target, saying how to make one', async () => {
    const project = await fakeProject({ hostOnlyNative: true });
    const error = await bundleOf(project, OTHER_TARGET, 'out', {
      targetRoot: join(project, 'no-such-root'),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrossBuildError);
    expect((error as Error).message).toContain(`scripts/target-root.sh ${OTHER_TARGET}`);
  });

  it('bundles for another target from the packages prebuilds, and only that target', async () => {
    const project = await fakeProject({ hostOnlyNative: false });
    const built = await bundleOf(project, OTHER_TARGET);
    const prebuilt = Object.keys(built.manifest.files).filter((f) => f.includes('/prebuilds/'));
    expect(prebuilt).toEqual([`node_modules/@scope/native-d/prebuilds/${OTHER_TARGET}/d.node`]);
    expect(built.manifest.target).toBe(OTHER_TARGET);
  });

  it('refuses on unpack a bundle whose file differs from its manifest', async () => {
    const work = tempDir('bad-bundle');
    const stage = join(work, 'stage');
    await put(join(stage, APP_DIR, 'dist', 'main.js'), 'genuine\n');
    const file = join(work, 'b.tar.gz');
    await packBundle(
      stage,
      { version: '0.1.1', target: HOST_TARGET, nodeAbi: HOST_ABI, minConfigSchema: 1, natives: {} },
      file,
    );
    await writeFile(join(stage, APP_DIR, 'dist', 'main.js'), 'altered\n');
    execFileSync('tar', ['-czf', file, '-C', stage, 'manifest.json', APP_DIR]);
    const error = await unpackBundle(file, join(work, 'out')).catch((e: unknown) => e);
    expect((error as UpdateRefused).reason).toBe('bad-bundle');
    expect(await readFile(join(work, 'out'), 'utf8').catch(() => 'absent')).toBe('absent');
  });
});

/**
 * `npm run bundle -- --target linux-x64|linux-arm64 [--out DIR] [--no-build] [--target-root DIR]`:
 * a release bundle of this tree for one target (see src/update/build-app.ts for what is done for
 * native modules; --target-root, made by scripts/target-root.sh, lets them be cross-compiled).
 */
import { Command, Option } from 'commander';
import { BUNDLE_TARGETS, hostTarget, type BundleTarget } from '../src/update/manifest.js';
import { buildAppBundle, BundleBuildError } from '../src/update/build-app.js';
import { projectRoot } from '../src/util/version.js';

interface BundleOptions {
  target: BundleTarget | undefined;
  out: string;
  build: boolean;
  targetRoot?: string;
}

async function bundle(options: BundleOptions): Promise<void> {
  if (options.target === undefined)
    throw new BundleBuildError('this host is not linux-x64 or linux-arm64: name --target');
  const built = await buildAppBundle({
    projectDir: projectRoot(),
    outDir: options.out,
    target: options.target,
    build: options.build,
    targetRoot: options.targetRoot,
  });
  const natives = Object.entries(built.manifest.natives).map(([name, how]) => `${name} (${how})`);
  console.log(`bundle: ${built.file}`);
  console.log(
    `version ${built.manifest.version}, ${built.manifest.target}, Node ABI ${built.manifest.nodeAbi}, ` +
      `${Object.keys(built.manifest.files).length} files; native: ${natives.join(', ') || 'none'}`,
  );
}

const program = new Command('bundle')
  .addOption(
    new Option('--target <target>', 'platform of the kiosks').choices(BUNDLE_TARGETS).default(hostTarget()),
  )
  .option('--out <dir>', 'where the bundle is written', 'dist-bundles')
  .option('--no-build', 'use the dist/ already built')
  .option('--target-root <dir>', "cross-compile native modules against this root of the target's CPU")
  .action(bundle);

program.parseAsync().catch((error: unknown) => {
  console.error(`bundle: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});

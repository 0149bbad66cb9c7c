/**
 * The manifest inside every release bundle: what was built, for which platform and Node ABI, the
 * oldest configuration schema it can read, and the sha256 of every file. The kiosk checks it after
 * the bundle's own TUF hash matched, so a mislabelled bundle is caught even when correctly signed.
 */
import { z } from 'zod';
import { UpdateRefused } from './errors.js';

export const BUNDLE_TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type BundleTarget = (typeof BUNDLE_TARGETS)[number];

const semver = z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a version MAJOR.MINOR.PATCH');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** Relative POSIX paths inside the bundle's app/ tree; no absolute paths, no `..` segments. */
const bundlePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'path escapes the bundle');

export const BundleManifestSchema = z.strictObject({
  format: z.literal(1),
  name: z.literal('cccd-kiosk'),
  version: semver,
  target: z.enum(BUNDLE_TARGETS),
  nodeAbi: z.string().regex(/^\d+$/),
  minConfigSchema: z.number().int().min(1),
  /**
   * How the native modules were made for the target: built on a host of that target, the
   * packages' prebuilds, or cross-compiled (src/update/cross-build.ts).
   */
  natives: z.record(z.string(), z.enum(['host-build', 'prebuilt', 'cross-build'])),
  files: z.record(bundlePath, sha256),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/** What the kiosk that is about to install a bundle is. */
export interface HostIdentity {
  target: BundleTarget;
  nodeAbi: string;
  version: string;
  configSchema: number;
}

export function hostTarget(): BundleTarget | undefined {
  const candidate = `${process.platform}-${process.arch}`;
  return (BUNDLE_TARGETS as readonly string[]).includes(candidate) ? (candidate as BundleTarget) : undefined;
}

/** Negative, zero or positive as a is older, equal or newer than b (MAJOR.MINOR.PATCH only). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Throws UpdateRefused unless a bundle with this label may replace the running release. */
export function assertInstallable(
  bundle: Pick<BundleManifest, 'version' | 'target' | 'nodeAbi'> & { minConfigSchema?: number },
  host: HostIdentity,
): void {
  if (bundle.target !== host.target)
    throw new UpdateRefused('other-target', `bundle is for ${bundle.target}, this kiosk is ${host.target}`);
  if (bundle.nodeAbi !== host.nodeAbi)
    throw new UpdateRefused(
      'other-abi',
      `bundle is for Node ABI ${bundle.nodeAbi}, this kiosk runs ${host.nodeAbi}`,
    );
  const order = compareVersions(bundle.version, host.version);
  if (order < 0)
    throw new UpdateRefused('downgrade', `bundle ${bundle.version} is older than ${host.version}`);
  if (order === 0) throw new UpdateRefused('up-to-date', `bundle ${bundle.version} is already running`);
  if (bundle.minConfigSchema !== undefined && bundle.minConfigSchema > host.configSchema)
    throw new UpdateRefused(
      'config-schema',
      `bundle needs configuration schema ${bundle.minConfigSchema}, this kiosk has ${host.configSchema}`,
    );
}

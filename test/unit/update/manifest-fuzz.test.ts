/**
 * Fuzz of what a kiosk reads from a bundle and from signed targets metadata: the bundle manifest
 * (a JSON file from inside a verified tarball, still checked as untrusted input), the bundle label
 * in `custom`, and the install decision. Whatever comes in: a typed result or UpdateRefused with a
 * known reason, never another exception; no path that escapes the release directory is accepted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REFUSAL_REASONS, UpdateRefused } from '../../../src/update/errors.js';
import { assertInstallable, BundleManifestSchema, compareVersions } from '../../../src/update/manifest.js';
import { BundleLabelSchema } from '../../../src/update/updater.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const version = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map((p) => p.join('.'));
const target = fc.constantFrom('linux-x64', 'linux-arm64', 'darwin-arm64', '');
const abi = fc.constantFrom('115', '127', '137', 'x');
const path = fc.oneof(
  fc.string(),
  fc.constantFrom('../etc/passwd', '/etc/passwd', 'a/../../b', 'dist/main.js', 'node_modules/x/..'),
);

describe('bundle manifest and label fuzz', () => {
  it('parses any JSON value to a manifest or a refusal, never accepting an escaping path', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            format: fc.constant(1),
            name: fc.constant('cccd-kiosk'),
            version,
            target,
            nodeAbi: abi,
            minConfigSchema: fc.integer({ min: -1, max: 3 }),
            natives: fc.dictionary(fc.string(), fc.constantFrom('host-build', 'prebuilt', 'other')),
            files: fc.dictionary(path, fc.stringMatching(/^[0-9a-f]{64}$/)),
          }),
        ),
        (input) => {
          const parsed = BundleManifestSchema.safeParse(input);
          if (!parsed.success) return;
          for (const file of Object.keys(parsed.data.files)) {
            expect(file.startsWith('/')).toBe(false);
            expect(file.split('/')).not.toContain('..');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('decides any label against any kiosk with a known refusal reason or acceptance', () => {
    fc.assert(
      fc.property(fc.jsonValue(), version, version, abi, (custom, running, bundleVersion, nodeAbi) => {
        const label = BundleLabelSchema.safeParse(custom);
        const candidate = label.success
          ? label.data
          : { version: bundleVersion, target: 'linux-x64' as const, nodeAbi };
        try {
          assertInstallable(candidate, {
            target: 'linux-x64',
            nodeAbi: '115',
            version: running,
            configSchema: 1,
          });
          expect(compareVersions(candidate.version, running)).toBeGreaterThan(0);
        } catch (error) {
          expect(error).toBeInstanceOf(UpdateRefused);
          expect(Object.keys(REFUSAL_REASONS)).toContain((error as UpdateRefused).reason);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('orders versions as a total order (antisymmetric, transitive on samples)', () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        // `0 - x`, not `-x`: equal versions give 0 both ways, and -0 is not 0 to toBe (Object.is)
        expect(Math.sign(compareVersions(a, b))).toBe(0 - Math.sign(compareVersions(b, a)));
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0)
          expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: RUNS },
    );
  });
});

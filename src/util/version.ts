import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root (where package.json is), found from this file whether run from src/ or dist/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'cccd-kiosk') return dir;
    } catch {
      // not here; keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the cccd-kiosk package.json above this file');
    dir = parent;
  }
}

let cached: string | undefined;
/**
 * The running software's version: run from a release (releases/<version>/app, issue 14), the
 * version of that release's manifest, which the kiosk verified when it installed it; otherwise
 * (a development tree) the package's version.
 */
export function runtimeVersion(): string {
  cached ??= releaseVersion(projectRoot()) ?? packageVersion(projectRoot());
  return cached;
}

function packageVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

function releaseVersion(appDir: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(dirname(appDir), 'manifest.json'), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    return manifest.name === 'cccd-kiosk' && typeof manifest.version === 'string'
      ? manifest.version
      : undefined;
  } catch {
    return undefined;
  }
}

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface DashboardAsset {
  type: string;
  body: Buffer | string;
}

const ASSETS: Record<string, string> = {
  '/app.js': 'text/javascript; charset=utf-8',
  '/app.css': 'text/css; charset=utf-8',
};

/**
 * The page's files live in `src/ops/dashboard/public/`: beside this module from the sources, and
 * in the package's source tree from the build (`dist/src/ops/dashboard/`), which the package ships.
 */
function publicDir(): string {
  const candidates = [
    new URL('./public/', import.meta.url),
    new URL('../../../../src/ops/dashboard/public/', import.meta.url),
  ];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(`${path}app.js`)) return path;
  }
  throw new Error('ops dashboard: its page files (src/ops/dashboard/public) are missing');
}

/** Read once at start: the dashboard serves them from memory, nothing from the network. */
export function loadDashboardAssets(): Map<string, DashboardAsset> {
  const dir = publicDir();
  return new Map(
    Object.entries(ASSETS).map(([path, type]) => [
      path,
      { type, body: readFileSync(`${dir}${path.slice(1)}`) },
    ]),
  );
}

/** The shell: app.js renders the login form or the fleet view into it. */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cccd-kiosk operations</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body data-view="loading">
<main id="root"><p class="muted">Loading…</p></main>
</body>
</html>
`;
}

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  type: string;
  body: Buffer;
}

/** The touchscreen app's files, served from this server only (no CDN, no network). */
const ASSETS: Record<string, string> = {
  '/app.js': 'text/javascript; charset=utf-8',
  '/speech.js': 'text/javascript; charset=utf-8',
  '/telex.js': 'text/javascript; charset=utf-8',
  '/input-rules.js': 'text/javascript; charset=utf-8',
  '/app.css': 'text/css; charset=utf-8',
};

/**
 * The app's files live in `src/ui/public/`. Run from the sources (tsx) that is next to this
 * module; from the build (`dist/src/ui/`) it is the same folder in the package's source tree,
 * which the package ships.
 */
function publicDir(): string {
  const candidates = [
    new URL('./public/', import.meta.url),
    new URL('../../../src/ui/public/', import.meta.url),
  ];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(`${path}app.js`)) return path;
  }
  throw new Error('ui: the touchscreen app files (src/ui/public) are missing');
}

/** Reads the app's files once, at construction: the kiosk serves them from memory. */
export function loadAssets(): Map<string, StaticAsset> {
  const dir = publicDir();
  return new Map(
    Object.entries(ASSETS).map(([path, type]) => [
      path,
      { type, body: readFileSync(`${dir}${path.slice(1)}`) },
    ]),
  );
}

/**
 * The app's shell: the page renders every screen itself from the pushed `SessionView`
 * (src/ui/public/app.js). `demo` adds the control panel of `kiosk demo`; `speech` tells
 * src/ui/public/speech.js that the kiosk speaks (without it the page asks for no clip).
 */
export function appPage(options: { demo: boolean; speech?: boolean }): string {
  return `<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, user-scalable=no">
<title>Ki-ốt căn cước</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script type="module" src="/speech.js"></script>
<script type="module" src="/app.js"></script>
</head>
<body data-screen="connecting"${options.demo ? ' data-demo="1"' : ''}${options.speech ? ' data-speech="on"' : ''}>
<header class="top">
  <div class="brand">Ki-ốt căn cước</div>
  <div class="countdown" id="countdown" role="timer" hidden><span class="countdown-text"></span><div class="countdown-bar"><div class="countdown-fill"></div></div></div>
  <button class="top-button" id="repeat" type="button" data-testid="repeat">🔊 Nghe lại</button>
  <button class="top-button" id="large-text" type="button" data-testid="large-text" aria-pressed="false">Chữ to</button>
  <button class="lang" id="lang" type="button" data-testid="lang" lang="en">English</button>
</header>
<main id="screen"></main>
<div id="more-time" class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="more-time-title" data-testid="more-time" hidden></div>
${options.demo ? '<aside id="demo-panel" class="demo-panel" aria-label="demo"></aside>' : ''}
</body>
</html>`;
}

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from '../helpers/processes.js';
import { UiServer } from '../../src/ui/server.js';
import { quietLogger } from '../helpers/logs.js';
import { ViewFeeder } from '../helpers/view-feeder.js';

/** Debian's Chromium (scripts/ensure-deps.sh installs it); never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';
export const SCREENS_DIR = join(ROOT, 'test-results', 'screens');

export interface KioskBrowser {
  page: Page;
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile and nothing that talks to the network on its own, at the
 * touchscreen's size (1280×800, the common 10" kiosk panel). CSP is enforced as in production.
 */
export async function openKioskBrowser(
  url: string,
  options: { demoPanel?: boolean } = {},
): Promise<KioskBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'kiosk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // as deploy/chromium/cccd-kiosk-browser: the kiosk speaks each screen without a gesture
      '--autoplay-policy=no-user-gesture-required',
    ],
    // the demo page puts its control panel (340 px) beside the touchscreen's 1280 px
    viewport: { width: options.demoPanel ? 1280 + 340 : 1280, height: 800 },
    hasTouch: true,
    locale: 'vi-VN',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') violations.push(message.text());
  });
  page.on('pageerror', (error) => violations.push(error.message));
  await page.goto(url);
  return {
    page,
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      if (violations.length > 0) throw new Error(`the page logged errors:\n${violations.join('\n')}`);
    },
  };
}

/** Waits until the page shows `screen` (its body's data-screen, set when it renders a view). */
export async function waitForScreen(page: Page, screen: string, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForSelector(`body[data-screen="${screen}"]`, { timeout: timeoutMs });
  } catch (error) {
    // say where the page is instead: the screens it went through and what it shows now
    const seen = await page
      .evaluate(() => {
        const state = globalThis as unknown as {
          __kioskScreens?: string[];
          document: { body: { innerText: string } };
        };
        return `${(state.__kioskScreens ?? []).slice(-8).join(' → ')} | ${state.document.body.innerText.slice(0, 300)}`;
      })
      .catch(() => 'page gone');
    throw new Error(`the page did not show "${screen}" within ${timeoutMs} ms; it showed: ${seen}`, {
      cause: error,
    });
  }
}

/**
 * Saves the current screen in Vietnamese and in English (one touch on the language button each
 * way), as test-results/screens/<flow>/<nn>-<screen>.<lang>.png: the touchscreen's area only.
 */
export async function screenshotBothLanguages(page: Page, flow: string, index: number): Promise<string[]> {
  const dir = join(SCREENS_DIR, flow);
  mkdirSync(dir, { recursive: true });
  const screen = await page.getAttribute('body', 'data-screen');
  const name = `${String(index).padStart(2, '0')}-${screen}`;
  const files: string[] = [];
  for (const lang of ['vi', 'en'] as const) {
    if ((await page.getAttribute('body', 'data-lang')) !== lang) await page.click('[data-testid="lang"]');
    await page.waitForSelector(`body[data-lang="${lang}"]`);
    const file = join(dir, `${name}.${lang}.png`);
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width: 1280, height: 800 } });
    files.push(file);
  }
  await page.click('[data-testid="lang"]'); // back to Vietnamese
  await page.waitForSelector('body[data-lang="vi"]');
  return files;
}

/**
 * Types `text` on the touchscreen's own keyboard (src/ui/public/app.js), key by key, as a citizen
 * does: capitals with the shift key, a space with the space bar. With Telex on, "Lee" gives "Lê".
 */
export async function typeOnScreenKeyboard(page: Page, text: string): Promise<void> {
  for (const char of text) {
    if (char === ' ') await page.click('[data-testid="kb-space"]');
    else if (char !== char.toLowerCase()) {
      await page.click('[data-testid="kb-shift"]');
      await page.click(`[data-testid="kb-${char.toLowerCase()}"]`);
    } else await page.click(`[data-testid="kb-${char}"]`);
  }
}

/** The kiosk page in Chromium with its views fed by the test (the UI alone, no kiosk behind it). */
export interface FedScreens {
  sessions: ViewFeeder;
  browser: KioskBrowser;
  close(): Promise<void>;
}

/** The real UI server on a free port, fed by a ViewFeeder, and headless Chromium on its page. */
export async function openFedScreens(): Promise<FedScreens> {
  const sessions = new ViewFeeder();
  const ui = new UiServer({
    host: '127.0.0.1',
    port: 0,
    log: quietLogger(),
    status: () => ({ kioskId: 'k', version: '0', startedAt: '', parts: {} }),
    sessions,
  });
  await ui.start();
  const browser = await openKioskBrowser(`${ui.url}/`);
  return {
    sessions,
    browser,
    close: async () => {
      await browser.close();
      await ui.stop();
    },
  };
}

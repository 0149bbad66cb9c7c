import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { screenshotBothLanguages, waitForScreen } from './browser.js';
import { type RunningDemo, startDemoInBrowser } from './demo.js';

/**
 * The citizen flows end to end, as a citizen walks them: headless Chromium clicking the touchscreen
 * app of `kiosk demo` (the real kiosk process, its session orchestrator and drivers, the emulated
 * devices on ptys, the reference registry over MQTT). The citizen's hands (finger, codes, the
 * card in the tray) and a technician's (cables) are the demo page's control panel buttons.
 */
let running: RunningDemo;
let page: Page;

beforeAll(async () => {
  running = await startDemoInBrowser();
  page = running.browser.page;
  await waitForScreen(page, 'attract');
}, 60_000);
afterAll(async () => {
  await running?.stop();
});

async function panel(testid: string): Promise<void> {
  await page.click(`[data-testid="${testid}"]`);
  await page.waitForFunction(
    () =>
      (
        globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
      ).document
        .querySelector('[data-testid="demo-result"]')
        ?.textContent.startsWith('✓'),
    undefined,
    { timeout: 5000 },
  );
}

describe('citizen flows in the browser (kiosk demo, emulated devices)', () => {
  it('a needed device unplugged: out-of-service with the device named; replugged: attract again', async () => {
    await page.click('[data-testid="demo-unplug-dispenser"]');
    await waitForScreen(page, 'out-of-service', 20_000);
    expect(await page.textContent('[data-testid="oos-devices"]')).toContain('bộ cấp thẻ');
    await screenshotBothLanguages(page, 'failures', 1);
    await panel('demo-replug-dispenser');
    await waitForScreen(page, 'attract', 30_000);
  });

  it('the fingerprint sensor unplugged mid-session: the session ends in out-of-service', async () => {
    await page.click('[data-testid="start-pickup"]');
    await waitForScreen(page, 'identify');
    await panel('demo-unplug-fingerprint');
    await waitForScreen(page, 'out-of-service', 20_000);
    expect(await page.textContent('[data-testid="oos-devices"]')).toContain('cảm biến vân tay');
    await panel('demo-replug-fingerprint');
    await waitForScreen(page, 'attract', 30_000);
  });
});

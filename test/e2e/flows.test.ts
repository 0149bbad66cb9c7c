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

/** Waits for the screen, then saves it in Vietnamese and English under test-results/screens/<flow>. */
async function step(flow: string, index: number, screen: string, timeoutMs = 20_000): Promise<void> {
  await waitForScreen(page, screen, timeoutMs);
  await screenshotBothLanguages(page, flow, index);
}

describe('citizen flows in the browser (kiosk demo, emulated devices)', () => {
  it('a full pickup: pickup QR, finger on the sensor, card checked, taken from the tray, receipt', async () => {
    await step('pickup', 0, 'attract');
    await panel('demo-finger-none'); // the citizen has not put their finger down yet
    await page.click('[data-testid="start-pickup"]');
    await step('pickup', 1, 'identify');
    await panel('demo-scan-pickup-0');
    await step('pickup', 2, 'finger');
    // a scanned code shows no masked ID before the finger matched: a made-up code could not show
    // one, so showing it would tell a real code from a made-up one (issue 12)
    expect(await page.isVisible('[data-testid="masked-id"]')).toBe(false);
    expect(await page.isVisible('#countdown')).toBe(true);
    await panel('demo-finger-0');
    await step('pickup', 3, 'take-card', 30_000);
    await panel('demo-take-card');
    await step('pickup', 4, 'receipt', 30_000);
    expect(await page.textContent('[data-testid="receipt-code"]')).toMatch(/\S{4,}/);
    await page.click('[data-testid="done"]');
    await waitForScreen(page, 'attract');
  });

  it('a full data update: card QR, finger verified by the registry, new phone, submitted, status asked again', async () => {
    await page.click('[data-testid="start-update"]');
    await step('update', 0, 'update-identify');
    await panel('demo-finger-1');
    await panel('demo-scan-card-1');
    await step('update', 1, 'update-record', 30_000);
    await page.click('[data-testid="record-edit"]');
    await step('update', 2, 'update-edit');
    await page.fill('[data-testid="edit-phone"]', '0911222333');
    await page.fill('[data-testid="edit-email"]', 'anh.le@example.vn');
    await page.click('[data-testid="edit-submit"]');
    await step('update', 3, 'update-confirm');
    expect(await page.textContent('[data-testid="record-phone"]')).toBe('0911222333');
    await page.click('[data-testid="confirm"]');
    await step('update', 4, 'update-done', 30_000);
    const trackingCode = (await page.textContent('[data-testid="tracking-code"]'))?.trim() ?? '';
    expect(trackingCode).toMatch(/\S{4,}/);
    await page.click('[data-testid="done"]');
    await waitForScreen(page, 'attract');
    await page.fill('[data-testid="status-code"]', trackingCode);
    await page.click('[data-testid="status-go"]');
    await step('update', 5, 'update-status', 30_000);
    expect(await page.textContent('[data-testid="status-tracking-code"]')).toBe(trackingCode);
    await page.click('[data-testid="done"]');
    await waitForScreen(page, 'attract');
  });

  it('three wrong fingers: referral to staff, no card presented', async () => {
    await panel('demo-finger-wrong');
    await page.click('[data-testid="start-pickup"]');
    await waitForScreen(page, 'identify');
    await panel('demo-scan-pickup-2');
    await step('failures', 0, 'referral', 60_000);
    expect(await page.textContent('[data-testid="message"]')).toContain('Vân tay không khớp');
    const screens = await page.evaluate(
      () => (globalThis as unknown as { __kioskScreens: string[] }).__kioskScreens,
    );
    expect(screens.slice(screens.lastIndexOf('identify'))).not.toContain('take-card');
    await page.click('[data-testid="done"]');
    await waitForScreen(page, 'attract');
  });

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

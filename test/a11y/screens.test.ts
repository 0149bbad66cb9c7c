import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionView } from '../../src/kiosk/view.js';
import { type FedScreens, type KioskBrowser, openFedScreens } from '../e2e/browser.js';
import { ROOT } from '../helpers/processes.js';
import type { ViewFeeder } from '../helpers/view-feeder.js';

/**
 * Accessibility checked by a machine (issue 15): every screen of the touchscreen app, in
 * Vietnamese and English, normal and large-text/high-contrast, run through axe-core
 * (@axe-core/playwright, WCAG 2.0/2.1/2.2 A and AA rules) in headless Chromium. Also: every
 * target at least 44×44 px (WCAG 2.5.5), and every screen fits 1280×800 and 1080×1920 without
 * scrolling. `npm run test:a11y` prints `figure: axe serious+critical violations: N (target: 0)`.
 */
const gazetteer: NonNullable<SessionView['gazetteer']> = [
  {
    code: '01',
    name: 'Thành phố Hà Nội',
    wards: [{ code: '00004', name: 'Phường Ba Đình' }],
  },
];
const record: NonNullable<SessionView['record']> = {
  phone: '0912345678',
  email: 'an.nguyen@example.vn',
  residence: { provinceCode: '01', wardCode: '00004', detail: '12 Phố Đội Cấn' },
};
const soon = (ms: number) => ({ endsAt: Date.now() + ms, totalMs: ms });

/** Every screen and the variants that add something to it; `then` opens a part of the screen. */
const SCREENS: Array<{ name: string; view: Omit<SessionView, 'seq'>; then?: (page: Page) => Promise<void> }> =
  [
    { name: 'attract', view: { screen: 'attract', flow: null } },
    { name: 'identify', view: { screen: 'identify', flow: 'pickup', countdown: soon(600_000) } },
    {
      name: 'identify-error',
      view: {
        screen: 'identify',
        flow: 'pickup',
        messageKey: 'identify.not-found',
        countdown: soon(600_000),
      },
    },
    {
      name: 'finger',
      view: {
        screen: 'finger',
        flow: 'pickup',
        maskedId: '079*******78',
        attemptsLeft: 3,
        countdown: soon(600_000),
      },
    },
    {
      name: 'finger-lift',
      view: {
        screen: 'finger',
        flow: 'pickup',
        maskedId: '079*******78',
        attemptsLeft: 2,
        messageKey: 'finger.no-match',
        liftFinger: true,
        countdown: soon(600_000),
      },
    },
    {
      name: 'finger-more-time',
      view: {
        screen: 'finger',
        flow: 'pickup',
        maskedId: '079*******78',
        attemptsLeft: 3,
        moreTime: true,
        countdown: soon(600_000),
      },
    },
    {
      name: 'checking-card',
      view: {
        screen: 'checking-card',
        flow: 'pickup',
        progress: { step: 'passive-auth', done: 2, total: 5 },
      },
    },
    { name: 'take-card', view: { screen: 'take-card', flow: 'pickup', countdown: soon(600_000) } },
    {
      name: 'receipt',
      view: { screen: 'receipt', flow: 'pickup', receiptCode: 'R-58213ABC', receiptPrinted: true },
    },
    {
      name: 'receipt-not-printed',
      view: { screen: 'receipt', flow: 'pickup', receiptCode: 'R-58213ABC', receiptPrinted: false },
    },
    {
      name: 'referral',
      view: {
        screen: 'referral',
        flow: 'pickup',
        messageKey: 'referral.card-retracted',
        referenceCode: 'S-7K3Q9ABC',
        countdown: soon(600_000),
      },
    },
    {
      name: 'update-identify',
      view: { screen: 'update-identify', flow: 'update', countdown: soon(600_000) },
    },
    {
      name: 'update-record',
      view: { screen: 'update-record', flow: 'update', maskedId: '079*******78', record, gazetteer },
    },
    {
      name: 'update-edit',
      view: { screen: 'update-edit', flow: 'update', record, gazetteer, countdown: soon(600_000) },
    },
    {
      name: 'update-edit-telex',
      view: { screen: 'update-edit', flow: 'update', record, gazetteer, countdown: soon(600_000) },
      then: (page) => page.click('[data-testid="edit-detail"]'),
    },
    {
      name: 'update-edit-email',
      view: { screen: 'update-edit', flow: 'update', record, gazetteer, countdown: soon(600_000) },
      then: async (page) => {
        await page.click('[data-testid="edit-email"]');
        await page.fill('[data-testid="edit-email"]', 'not-an-email');
      },
    },
    {
      name: 'update-edit-phone',
      view: { screen: 'update-edit', flow: 'update', record, gazetteer, countdown: soon(600_000) },
      then: (page) => page.click('[data-testid="edit-phone"]'),
    },
    {
      name: 'update-confirm',
      view: { screen: 'update-confirm', flow: 'update', maskedId: '079*******78', record },
    },
    {
      name: 'update-done',
      view: { screen: 'update-done', flow: 'update', trackingCode: 'U-7K3Q9ABC', receiptPrinted: true },
    },
    {
      name: 'update-done-not-printed',
      view: { screen: 'update-done', flow: 'update', trackingCode: 'U-7K3Q9ABC', receiptPrinted: false },
    },
    {
      name: 'update-status',
      view: {
        screen: 'update-status',
        flow: 'update',
        updateStatus: { trackingCode: 'U-7K3Q9ABC', state: 'pending' },
      },
    },
    {
      name: 'status-lookup',
      view: {
        screen: 'status-lookup',
        flow: 'update',
        messageKey: 'update.status-unknown',
        countdown: soon(600_000),
      },
    },
    {
      name: 'out-of-service',
      view: {
        screen: 'out-of-service',
        flow: null,
        outOfService: { reasonKey: 'out-of-service.device-missing', devices: ['fingerprint', 'dispenser'] },
      },
    },
  ];
const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1080, height: 1920 },
] as const;

let sessions: ViewFeeder;
let browser: KioskBrowser;
let screens: FedScreens | undefined;
const report: Array<{ screen: string; lang: string; mode: string; violations: unknown[] }> = [];
let seriousOrCritical = 0;

beforeAll(async () => {
  screens = await openFedScreens();
  ({ sessions, browser } = screens);
});
afterAll(async () => {
  const dir = join(ROOT, 'test-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'a11y-axe.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`figure: axe serious+critical violations: ${seriousOrCritical} (target: 0)`);
  await screens?.close();
});

async function show(page: Page, view: Omit<SessionView, 'seq'>, lang: 'vi' | 'en', large: boolean) {
  // through attract first (a new citizen: Vietnamese, normal text), choosing language and text size
  // there, as a citizen would before starting
  const reset = sessions.push({ screen: 'attract', flow: null });
  await page.waitForSelector(`body[data-seq="${reset.seq}"]`);
  if (lang === 'en') {
    await page.click('[data-testid="lang"]');
    await page.waitForSelector('body[data-lang="en"]');
  }
  if (large) {
    await page.click('[data-testid="large-text"]');
    await page.waitForSelector('body.large');
  }
  const pushed = sessions.push(view);
  await page.waitForSelector(`body[data-seq="${pushed.seq}"]`);
}

/** Targets smaller than 44×44 px (buttons, fields), named for the failure message. */
async function smallTargets(page: Page): Promise<string[]> {
  return page.$$eval('button, input, select', (elements) =>
    elements
      .filter((element) => !element.closest('#demo-panel'))
      .map((element) => ({ element, box: element.getBoundingClientRect() }))
      .filter(({ box }) => box.width > 0 && box.height > 0 && (box.width < 44 || box.height < 44))
      .map(({ element, box }) => `${element.outerHTML.slice(0, 80)} ${box.width}×${box.height}`),
  );
}

/** What sticks out of the window (the kiosk's screen must not scroll). */
async function overflow(page: Page): Promise<string[]> {
  const { width, height } = page.viewportSize() ?? { width: 0, height: 0 };
  return page.$$eval(
    'body *',
    (elements, [width, height]) =>
      elements
        .filter((element) => !element.closest('#demo-panel'))
        .map((element) => ({ element, box: element.getBoundingClientRect() }))
        .filter(({ box }) => box.width > 0 && box.height > 0)
        .filter(({ box }) => box.bottom > height + 0.5 || box.right > width + 0.5)
        .map(
          ({ element, box }) =>
            `${element.tagName.toLowerCase()}.${element.className} bottom ${Math.round(box.bottom)} right ${Math.round(box.right)}`,
        )
        .slice(0, 5),
    [width, height] as const,
  );
}

describe('accessibility of every screen (axe-core, target sizes, no scrolling)', () => {
  it.each(SCREENS)('$name', async ({ name, view, then }) => {
    const { page } = browser;
    const problems: string[] = [];
    for (const mode of ['normal', 'large'] as const)
      for (const lang of mode === 'large' ? (['vi'] as const) : (['vi', 'en'] as const)) {
        await page.setViewportSize(VIEWPORTS[0]);
        await show(page, view, lang, mode === 'large');
        await then?.(page);
        const result = await new AxeBuilder({ page })
          .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
          .analyze();
        const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        seriousOrCritical += bad.reduce((sum, v) => sum + v.nodes.length, 0);
        report.push({
          screen: name,
          lang,
          mode,
          violations: result.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            nodes: v.nodes.map((n) => n.target.join(' ')),
          })),
        });
        for (const v of bad)
          problems.push(
            `${lang}/${mode}: ${v.id} (${v.impact}) on ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
          );
        for (const target of await smallTargets(page))
          problems.push(`${lang}/${mode}: target < 44 px: ${target}`);
        // normal text fits both panels; large text fits the tall one
        for (const viewport of mode === 'large' ? [VIEWPORTS[1]] : VIEWPORTS) {
          await page.setViewportSize(viewport);
          for (const out of await overflow(page))
            problems.push(`${lang}/${mode} ${viewport.width}×${viewport.height}: outside the screen: ${out}`);
        }
      }
    expect(problems).toEqual([]);
  });
});

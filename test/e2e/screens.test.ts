import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionView } from '../../src/kiosk/view.js';
import type { ViewFeeder } from '../helpers/view-feeder.js';
import {
  type FedScreens,
  type KioskBrowser,
  openFedScreens,
  screenshotBothLanguages,
  typeOnScreenKeyboard,
  waitForScreen,
} from './browser.js';

/**
 * The touchscreen app alone, in headless Chromium: every screen rendered from a pushed view,
 * in Vietnamese and English, and each screen's touch sending the input the contract names.
 * (The full flows against the real kiosk and emulated devices are in flows.test.ts.)
 */
const gazetteer: NonNullable<SessionView['gazetteer']> = [
  {
    code: '01',
    name: 'Thành phố Hà Nội',
    wards: [
      { code: '00004', name: 'Phường Ba Đình' },
      { code: '00008', name: 'Phường Ngọc Hà' },
    ],
  },
  { code: '79', name: 'Thành phố Hồ Chí Minh', wards: [{ code: '26734', name: 'Phường Sài Gòn' }] },
];
const record: NonNullable<SessionView['record']> = {
  phone: '0912345678',
  email: 'an.nguyen@example.vn',
  residence: { provinceCode: '01', wardCode: '00004', detail: '12 Phố Đội Cấn' },
};
const soon = (ms: number) => ({ endsAt: Date.now() + ms, totalMs: ms });

let sessions: ViewFeeder;
let browser: KioskBrowser;
let screens: FedScreens | undefined;

beforeAll(async () => {
  screens = await openFedScreens();
  ({ sessions, browser } = screens);
});
afterAll(async () => {
  await screens?.close();
});

async function show(view: Omit<SessionView, 'seq'>): Promise<void> {
  const pushed = sessions.push(view);
  await browser.page.waitForSelector(`body[data-seq="${pushed.seq}"]`);
}

describe('touchscreen app screens (headless Chromium)', () => {
  it('renders every screen in Vietnamese and English, and each touch sends its input', async () => {
    const { page } = browser;
    let shot = 0;
    await waitForScreen(page, 'attract');
    expect(await page.textContent('h1')).toContain('Xin chào');
    await screenshotBothLanguages(page, 'screens', shot++);
    let mark = sessions.inputs.length;
    await page.click('[data-testid="start-pickup"]');
    expect(await sessions.nextInput('start', mark)).toEqual({ type: 'start', flow: 'pickup' });
    mark = sessions.inputs.length;
    await page.click('[data-testid="start-update"]');
    expect(await sessions.nextInput('start', mark)).toEqual({ type: 'start', flow: 'update' });
    mark = sessions.inputs.length;
    await page.click('[data-testid="start-status"]');
    expect(await sessions.nextInput('start', mark)).toEqual({ type: 'start', flow: 'status' });
    await show({ screen: 'status-lookup', flow: 'update', countdown: soon(60_000) });
    mark = sessions.inputs.length;
    for (const key of 'UPD-7K3Q9') await page.click(`[data-testid="kb-${key}"]`);
    await page.click('[data-testid="status-go"]');
    expect(await sessions.nextInput('ask-status', mark)).toEqual({
      type: 'ask-status',
      trackingCode: 'UPD-7K3Q9',
    });
    // an unknown code: the screen stays, with the reason and the code as typed
    await show({
      screen: 'status-lookup',
      flow: 'update',
      messageKey: 'update.status-unknown',
      countdown: soon(60_000),
    });
    expect(await page.textContent('[data-testid="message"]')).toContain('Không tìm thấy hồ sơ');
    expect(await page.inputValue('[data-testid="status-code"]')).toBe('UPD-7K3Q9');
    await screenshotBothLanguages(page, 'screens', shot++);

    await show({ screen: 'identify', flow: 'pickup', countdown: soon(60_000) });
    expect(await page.isVisible('#countdown')).toBe(true);
    expect(Number(await page.getAttribute('#countdown', 'data-seconds'))).toBeGreaterThan(50);
    await screenshotBothLanguages(page, 'screens', shot++);
    mark = sessions.inputs.length;
    for (const digit of '079912345670') await page.click(`[data-testid="key-${digit}"]`);
    await page.click('[data-testid="key-clear"]'); // ⌫ takes one digit off, not all
    await page.click('[data-testid="key-8"]');
    // visible as typed, in groups of three (the citizen checks what they typed)
    expect(await page.textContent('[data-testid="id-entry"]')).toBe('079 912 345 678');
    await page.click('[data-testid="id-submit"]');
    expect(await sessions.nextInput('enter-id', mark)).toEqual({
      type: 'enter-id',
      idNumber: '079912345678',
    });
    await show({
      screen: 'identify',
      flow: 'pickup',
      messageKey: 'identify.not-found',
      countdown: soon(60_000),
    });
    expect(await page.textContent('[data-testid="message"]')).toContain('Không tìm thấy');
    mark = sessions.inputs.length;
    await page.click('[data-testid="cancel"]');
    expect(await sessions.nextInput('cancel', mark)).toEqual({ type: 'cancel' });

    await show({
      screen: 'finger',
      flow: 'pickup',
      maskedId: '079*******78',
      attemptsLeft: 3,
      countdown: soon(30_000),
    });
    expect(await page.textContent('[data-testid="masked-id"]')).toBe('079*******78');
    await screenshotBothLanguages(page, 'screens', shot++);
    await show({
      screen: 'finger',
      flow: 'pickup',
      maskedId: '079*******78',
      attemptsLeft: 2,
      messageKey: 'finger.no-match',
      countdown: soon(30_000),
    });
    expect(await page.textContent('[data-testid="attempts"]')).toContain('2');
    await screenshotBothLanguages(page, 'screens', shot++);

    await show({
      screen: 'checking-card',
      flow: 'pickup',
      progress: { step: 'passive-auth', done: 2, total: 5 },
    });
    expect(await page.$$eval('[data-testid="steps"] li.done', (items) => items.length)).toBe(2);
    await screenshotBothLanguages(page, 'screens', shot++);
    await show({ screen: 'take-card', flow: 'pickup', countdown: soon(20_000) });
    await screenshotBothLanguages(page, 'screens', shot++);
    await show({ screen: 'receipt', flow: 'pickup', receiptCode: 'R-58213' });
    expect(await page.textContent('[data-testid="receipt-code"]')).toBe('R-58213');
    await screenshotBothLanguages(page, 'screens', shot++);
    await show({ screen: 'referral', flow: 'pickup', messageKey: 'referral.finger-attempts' });
    expect(await page.textContent('[data-testid="message"]')).toContain('Vân tay không khớp');
    await screenshotBothLanguages(page, 'screens', shot++);

    await show({ screen: 'update-identify', flow: 'update', countdown: soon(60_000) });
    await screenshotBothLanguages(page, 'screens', shot++);
    await show({ screen: 'update-record', flow: 'update', maskedId: '079*******78', record, gazetteer });
    expect(await page.textContent('[data-testid="record-residence"]')).toBe(
      '12 Phố Đội Cấn, Phường Ba Đình, Thành phố Hà Nội',
    );
    await screenshotBothLanguages(page, 'screens', shot++);
    mark = sessions.inputs.length;
    await page.click('[data-testid="record-edit"]');
    expect(await sessions.nextInput('confirm', mark)).toEqual({ type: 'confirm' });

    await show({
      screen: 'update-edit',
      flow: 'update',
      maskedId: '079*******78',
      record,
      gazetteer,
      countdown: soon(120_000),
    });
    await screenshotBothLanguages(page, 'screens', shot++);
    // a wrong e-mail is told next to its field, and nothing is sent
    await page.click('[data-testid="edit-email"]');
    await page.fill('[data-testid="edit-email"]', 'not-an-email');
    await page.click('[data-testid="kb-done"]');
    expect(await page.textContent('[data-testid="edit-email-error"]')).toContain('chưa đúng');
    mark = sessions.inputs.length;
    await page.click('[data-testid="edit-submit"]');
    await page.click('[data-testid="edit-email"]');
    await page.fill('[data-testid="edit-email"]', record.email ?? '');
    await page.click('[data-testid="kb-done"]');
    expect(sessions.inputs.slice(mark).some((input) => input.type === 'edit')).toBe(false);
    // the phone on the digit layout, as a citizen writes it; the page sends it normalised
    await page.click('[data-testid="edit-phone"]');
    await page.fill('[data-testid="edit-phone"]', '');
    for (const key of '0987 654 321'.replace(/ /g, '')) await page.click(`[data-testid="kb-${key}"]`);
    await page.click('[data-testid="kb-done"]');
    await page.selectOption('[data-testid="edit-province"]', '79');
    await page.selectOption('[data-testid="edit-ward"]', '26734');
    // the address with Telex on the on-screen keyboard: "5 Lee Lowij" → "5 Lê Lợi"
    await page.click('[data-testid="edit-detail"]');
    await page.fill('[data-testid="edit-detail"]', '');
    await typeOnScreenKeyboard(page, '5 Lee Lowij');
    expect(await page.inputValue('[data-testid="edit-detail"]')).toBe('5 Lê Lợi');
    await screenshotBothLanguages(page, 'screens', shot++);
    await page.click('[data-testid="kb-done"]');
    mark = sessions.inputs.length;
    await page.click('[data-testid="edit-submit"]');
    expect(await sessions.nextInput('edit', mark)).toEqual({
      type: 'edit',
      fields: {
        phone: '0987654321',
        residence: { provinceCode: '79', wardCode: '26734', detail: '5 Lê Lợi' },
      },
    });

    // as the kiosk pushes it: the changed record, province and ward names from the edit screen's list
    await show({
      screen: 'update-confirm',
      flow: 'update',
      maskedId: '079*******78',
      record: {
        ...record,
        phone: '0987654321',
        residence: { provinceCode: '79', wardCode: '26734', detail: '5 Lê Lợi' },
      },
    });
    expect(await page.textContent('[data-testid="record-residence"]')).toBe(
      '5 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh',
    );
    await screenshotBothLanguages(page, 'screens', shot++);
    mark = sessions.inputs.length;
    await page.click('[data-testid="confirm"]');
    expect(await sessions.nextInput('confirm', mark)).toEqual({ type: 'confirm' });
    await show({ screen: 'update-done', flow: 'update', trackingCode: 'UPD-7K3Q9' });
    await screenshotBothLanguages(page, 'screens', shot++);
    await show({
      screen: 'update-status',
      flow: 'update',
      updateStatus: { trackingCode: 'UPD-7K3Q9', state: 'approved' },
    });
    expect(await page.textContent('[data-testid="status-state"]')).toBe('Đã duyệt');
    await screenshotBothLanguages(page, 'screens', shot++);

    await show({
      screen: 'out-of-service',
      flow: null,
      outOfService: { reasonKey: 'out-of-service.device-missing', devices: ['fingerprint', 'dispenser'] },
    });
    expect(await page.textContent('[data-testid="oos-devices"]')).toContain('cảm biến vân tay');
    expect(await page.isHidden('#countdown')).toBe(true);
    await screenshotBothLanguages(page, 'screens', shot);

    // Back to the attract screen, the language is Vietnamese again for the next citizen.
    await page.click('[data-testid="lang"]');
    await page.waitForSelector('body[data-lang="en"]');
    await show({ screen: 'attract', flow: null });
    expect(await page.getAttribute('body', 'data-lang')).toBe('vi');
  });
});

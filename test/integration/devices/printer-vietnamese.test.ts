/**
 * Must-show 6: one receipt of Vietnamese text printed through the kiosk's driver over a real pty
 * in three printer profiles (Epson WPC1258, a clone with TCVN-3, raster GS v 0), each read back
 * by the emulator to the exact text, its PNG written under test-results/. Raster lines are read
 * back by matching each cell against the glyphs of the font the kiosk drew them with (font.ts):
 * exact, because both sides draw the same bits; no OCR.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PRINTER_PROFILES,
  PrinterEmulator,
  type PrinterProfileId,
  type Receipt,
  SerialReceiptPrinter,
} from '../../../devices/index.js';
import { composeReceipt, receiptQr } from '../../../src/kiosk/receipt.js';
import { pluggablePty } from '../../helpers/device-rig.js';

const FACTS = {
  kind: 'pickup' as const,
  kioskId: 'hn-0001',
  site: 'UBND Phường Hoàn Kiếm, số 126 Đinh Tiên Hoàng, Hà Nội — Tầng 1, quầy Một cửa',
  at: new Date('2026-11-30T08:05:00Z'),
  reference: 'R-7KQ2M9XD',
};

/** What a reader must find on the paper: every text line of the receipt, exactly. */
function expectedLines(receipt: Receipt): string[] {
  return receipt.items.flatMap((item) => (item.kind === 'text' ? item.text.split('\n') : []));
}

describe('a Vietnamese receipt in three printer profiles, read back exactly', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function printIn(profileId: PrinterProfileId) {
    const profile = PRINTER_PROFILES[profileId];
    const pngDir = await mkdtemp(join(tmpdir(), 'printer-png-'));
    const pty = await pluggablePty(`printer-${profileId}`);
    // 115200 Bd: a USB printer's usual rate (a raster receipt at 9600 Bd takes ~20 s)
    const emulator = new PrinterEmulator({ path: pty.emulatorPath, baudRate: 115200, profile, pngDir });
    await emulator.start();
    const printer = new SerialReceiptPrinter({
      path: pty.devicePath,
      baudRate: 115200,
      retryMs: 100,
      timeoutMs: 2000,
      profile,
    });
    await printer.start();
    cleanups.push(async () => {
      await printer.stop();
      await emulator.stop();
      await pty.close();
      await rm(pngDir, { recursive: true, force: true });
    });
    const receipt = composeReceipt(FACTS, profile.columns);
    const confirmation = await printer.print(receipt, { timeoutMs: 5000 });
    await emulator.rendered();
    await mkdir('test-results', { recursive: true });
    const png = join('test-results', `receipt-${profileId}.png`);
    await copyFile(join(pngDir, 'last-receipt.png'), png);
    return { receipt, printed: emulator.receipts, confirmation, png };
  }

  it.each(['epson-wpc1258', 'clone-tcvn3', 'raster-80mm'] as const)(
    '%s: every line decodes to the exact text, the QR to its payload, and the PNG is written',
    async (profileId) => {
      const { receipt, printed, confirmation, png } = await printIn(profileId);
      expect(confirmation).toMatchObject({ confirmed: true, status: { paperOut: false, coverOpen: false } });
      expect(printed).toHaveLength(1);
      const [paper] = printed;
      expect(paper?.unknownCommands).toBe(0);
      expect(paper?.lines.map((line) => line.text)).toEqual(expectedLines(receipt));
      expect(paper?.qrCodes).toEqual([receiptQr(FACTS)]);
      expect(paper?.cut).toBe(true);
      // text mode where the code page carries the line (TCVN-3 has no "—": that line goes raster)
      const raster = (text: string) =>
        profileId === 'raster-80mm' || (profileId === 'clone-tcvn3' && text.includes('—'));
      expect(paper?.lines.map((line) => line.raster)).toEqual(paper?.lines.map((line) => raster(line.text)));
      const image = PNG.sync.read(await readFile(png));
      expect(image.width).toBe(PRINTER_PROFILES[profileId].paperDots + 16);
      expect(image.height).toBeGreaterThan(400);
    },
    60_000,
  );

  it('the title and the reference keep their own style in every profile', async () => {
    const { printed } = await printIn('clone-tcvn3');
    const lines = printed[0]?.lines ?? [];
    expect(lines[0]).toMatchObject({ text: 'BIÊN NHẬN', bold: true, width: 2, height: 2, align: 'center' });
    expect(lines.find((line) => line.text.startsWith('Mã tham chiếu'))).toMatchObject({
      bold: true,
      width: 1,
    });
  }, 60_000);

  it('a clone that prints CP1258 tone marks apart gets raster lines for them, still exact', async () => {
    const { receipt, printed } = await printIn('clone-cp1258-uncomposed');
    const lines = printed[0]?.lines ?? [];
    expect(lines.map((line) => line.text)).toEqual(expectedLines(receipt));
    // "Kiosk: hn-0001" needs no tone mark: text; "BIÊN NHẬN" needs U+0323: raster
    expect(lines.find((line) => line.text.startsWith('Kiosk'))?.raster).toBe(false);
    expect(lines[0]?.raster).toBe(true);
  }, 60_000);
});

/**
 * Must-show 5, printer half: a third-party ESC/POS encoder, @point-of-sale/receipt-printer-encoder
 * (npm, "ReceiptPrinterEncoder", esc-pos language, Epson TM-T88VI model), drives the printer
 * emulator over a real pseudo-terminal. Every command it emits must be understood (no unknown
 * command, no stray parameter byte on the paper) and what it encoded must come out: text, styles
 * per character, code page (TCVN-3), rule, bar code, QR code, raster image, drawer pulse, cut. The
 * real-time status it may ask (DLE EOT, GS r) is answered as the Epson reference gives.
 */
import ReceiptPrinterEncoder from '@point-of-sale/receipt-printer-encoder';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { PRINTER_PROFILES, PrinterEmulator } from '../../../devices/index.js';
import { pluggablePty, until } from '../../helpers/device-rig.js';

describe('printer emulator against @point-of-sale/receipt-printer-encoder over a pty', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig() {
    const pty = await pluggablePty('printer-3p');
    const emulator = new PrinterEmulator({
      path: pty.emulatorPath,
      baudRate: 115200,
      profile: PRINTER_PROFILES['clone-tcvn3'],
    });
    await emulator.start();
    const host = new SerialPort({ path: pty.devicePath, baudRate: 115200, autoOpen: false, lock: false });
    await new Promise<void>((resolve, reject) => host.open((error) => (error ? reject(error) : resolve())));
    const answers: number[] = [];
    host.on('data', (chunk: Buffer) => answers.push(...chunk));
    cleanups.push(async () => {
      await new Promise<void>((resolve) => host.close(() => resolve()));
      await emulator.stop();
      await pty.close();
    });
    const send = (bytes: Uint8Array) =>
      new Promise<void>((resolve, reject) =>
        host.write(Buffer.from(bytes), (error) => (error ? reject(error) : resolve())),
      );
    return { emulator, send, answers };
  }

  it('decodes every command the encoder emits: text, styles, code page, rule, bar code, QR, image, cut', async () => {
    const { emulator, send } = await rig();
    const encoder = new ReceiptPrinterEncoder({
      language: 'esc-pos',
      printerModel: 'epson-tm-t88vi',
      columns: 48,
    });
    const image = {
      width: 16,
      height: 8,
      data: new Uint8ClampedArray(16 * 8 * 4).fill(0).map((_, i) => (i % 4 === 3 ? 255 : 0)),
    };
    const bytes = encoder
      .initialize()
      .codepage('tcvn3')
      .line('hello')
      .text('plain ')
      .bold(true)
      .text('bold')
      .bold(false)
      .underline(true)
      .text(' under')
      .underline(false)
      .newline()
      .invert(true)
      .text('inverse')
      .invert(false)
      .newline()
      .size(2, 2)
      .line('big')
      .size(1, 1)
      .align('center')
      .line('centered')
      .align('left')
      .line('tiếng việt có dấu')
      .rule()
      .barcode('3130630574613', 'ean13', 60)
      .qrcode('https://example.vn/r/123')
      .image(image, 16, 8, 'threshold')
      .pulse()
      .cut()
      .encode();
    await send(bytes);
    await until(() => emulator.receipts.length === 1);
    const [receipt] = emulator.receipts;
    expect(receipt?.unknownCommands).toBe(0);
    const texts = receipt?.lines.map((line) => line.text);
    expect(texts).toEqual([
      'hello',
      'plain bold under',
      'inverse',
      'big',
      `${' '.repeat(20)}centered`, // the library centres with spaces
      'tiếng việt có dấu',
      '─'.repeat(48), // ESC t 0 (CP437) + 0xC4 × 48
    ]);
    expect(receipt?.lines[1]?.spans).toMatchObject([
      { text: 'plain ', bold: false, underline: 0 },
      { text: 'bold', bold: true, underline: 0 },
      { text: ' under', bold: false, underline: 1 },
    ]);
    expect(receipt?.lines[2]?.spans).toMatchObject([{ text: 'inverse', invert: true }]);
    expect(receipt?.lines[3]).toMatchObject({ width: 2, height: 2 });
    expect(receipt?.barcodes).toEqual(['3130630574613']);
    expect(receipt?.qrCodes).toEqual(['https://example.vn/r/123']);
    expect(receipt?.paper.filter((block) => block.kind === 'image')).toHaveLength(1);
    expect(receipt?.cut).toBe(true);
  });

  it('answers DLE EOT 1–4 at once even off-line, GS r 1 only in sequence on-line', async () => {
    const { emulator, send, answers } = await rig();
    await send(Uint8Array.of(0x10, 0x04, 1, 0x10, 0x04, 2, 0x10, 0x04, 3, 0x10, 0x04, 4, 0x1d, 0x72, 1));
    await until(() => answers.length === 5);
    expect(answers.splice(0)).toEqual([0x12, 0x12, 0x12, 0x12, 0x00]);
    emulator.setStatus({ paperOut: true, coverOpen: true });
    await send(Uint8Array.of(0x1d, 0x72, 49, 0x10, 0x04, 1, 0x10, 0x04, 2, 0x10, 0x04, 4));
    await until(() => answers.length === 3);
    // GS r waits in the stalled buffer; off-line (bit 3); cover open (bit 2) + paper end stop
    // (bit 5); paper end (bits 5, 6)
    expect(answers).toEqual([0x1a, 0x36, 0x72]);
  });
});

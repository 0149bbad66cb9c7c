import { afterEach, describe, expect, it } from 'vitest';
import {
  DeviceDisconnected,
  DeviceFault,
  DeviceTimeout,
  PrinterEmulator,
  type Receipt,
  SerialReceiptPrinter,
} from '../../../devices/index.js';
import { pluggablePty, until } from '../../helpers/device-rig.js';

const RECEIPT: Receipt = {
  items: [
    { kind: 'text', text: 'BIÊN NHẬN NHẬN THẺ CĂN CƯỚC', bold: true, width: 2, height: 2, align: 'center' },
    { kind: 'text', text: 'Kiosk: hn-0001 — Phường Hoàn Kiếm, Hà Nội' },
    { kind: 'qr', data: 'RCPT-2026-000777', align: 'center' },
  ],
};

describe('receipt printer over a real pseudo-terminal', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig() {
    const pty = await pluggablePty('printer');
    const emulator = new PrinterEmulator({ path: pty.emulatorPath, baudRate: 9600 });
    await emulator.start();
    const printer = new SerialReceiptPrinter({
      path: pty.devicePath,
      baudRate: 9600,
      retryMs: 100,
      timeoutMs: 800,
      printingMs: 300,
    });
    await printer.start();
    cleanups.push(async () => {
      await printer.stop();
      await emulator.stop();
      await pty.close();
    });
    return { pty, emulator, printer };
  }

  it('prints a Vietnamese receipt with a QR code that the printer decodes back', async () => {
    const { emulator, printer } = await rig();
    expect(await printer.status()).toEqual({ coverOpen: false, paperOut: false, paperNearEnd: false });
    await printer.print(RECEIPT);
    expect(emulator.receipts).toHaveLength(1);
    const [receipt] = emulator.receipts;
    expect(receipt?.lines.map((line) => line.text)).toEqual([
      'BIÊN NHẬN NHẬN THẺ CĂN CƯỚC',
      'Kiosk: hn-0001 — Phường Hoàn Kiếm, Hà Nội',
    ]);
    expect(receipt?.lines[0]).toMatchObject({ bold: true, width: 2, align: 'center' });
    expect(receipt?.qrCodes).toEqual(['RCPT-2026-000777']);
    expect(receipt?.cut).toBe(true);
  });

  it('refuses to print with paper out or cover open, and reports near-end', async () => {
    const { emulator, printer } = await rig();
    emulator.setStatus({ paperOut: true });
    const paperOut = await printer.print(RECEIPT).catch((e: unknown) => e);
    expect(paperOut).toBeInstanceOf(DeviceFault);
    expect(paperOut).toMatchObject({ fault: 'paper-out' });
    emulator.setStatus({ paperOut: false, coverOpen: true });
    await expect(printer.print(RECEIPT)).rejects.toMatchObject({ fault: 'cover-open' });
    emulator.setStatus({ coverOpen: false, paperNearEnd: true });
    expect(await printer.status()).toEqual({ coverOpen: false, paperOut: false, paperNearEnd: true });
    expect(emulator.receipts).toHaveLength(0);
  });

  it('confirms only what the printer says it printed: paper running out mid-receipt is a fault', async () => {
    const { emulator, printer } = await rig();
    emulator.runOutOfPaperAfter(40);
    await expect(printer.print(RECEIPT, { timeoutMs: 300 })).rejects.toMatchObject({ fault: 'paper-out' });
    expect(emulator.receipts).toHaveLength(0);
    emulator.setStatus({ paperOut: false }); // a new roll
    await expect(printer.print(RECEIPT)).resolves.toMatchObject({ confirmed: true });
    expect(emulator.receipts).toHaveLength(1);
  });

  it('times out when the printer stops answering', async () => {
    const { emulator, printer } = await rig();
    emulator.silent = true;
    await expect(printer.status({ timeoutMs: 200 })).rejects.toBeInstanceOf(DeviceTimeout);
  });

  it('unplugged mid-print: fails DeviceDisconnected, reports missing, recovers on replug', async () => {
    const { pty, emulator, printer } = await rig();
    emulator.silent = true; // the receipt's closing status request stays unanswered …
    const printing = printer.print(RECEIPT, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    emulator.silent = false;
    await emulator.stop(); // … and the cable is pulled while it waits
    await pty.unplug();
    expect(await printing).toBeInstanceOf(DeviceDisconnected);
    await until(() => printer.health === 'missing');
    await pty.replug();
    await emulator.start();
    await until(() => printer.health === 'ok');
    await printer.print(RECEIPT);
    expect(emulator.receipts.at(-1)?.qrCodes).toEqual(['RCPT-2026-000777']);
  });
});

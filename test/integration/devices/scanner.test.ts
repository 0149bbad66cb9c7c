import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../helpers/device-rig.js';
import { createPtyPair, type PtyPair, ScannerEmulator, SerialScanner } from '../../../devices/index.js';

describe('QR scanner over a real pseudo-terminal', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig() {
    const dir = mkdtempSync(join(tmpdir(), 'scanner-'));
    const devicePath = join(dir, 'scanner');
    const emulatorPath = join(dir, 'scanner.emu');
    let pty: PtyPair = await createPtyPair(devicePath, emulatorPath);
    const emulator = new ScannerEmulator({ path: emulatorPath });
    await emulator.start();
    const scanner = new SerialScanner({ path: devicePath, baudRate: 9600, retryMs: 100 });
    const scans: string[] = [];
    const rejected: string[] = [];
    scanner.on('scan', (text) => scans.push(text));
    scanner.on('rejected', (error) => rejected.push(error.reason));
    await scanner.start();
    cleanups.push(async () => {
      await scanner.stop();
      await emulator.stop();
      await pty.close();
    });
    return {
      scanner,
      emulator,
      scans,
      rejected,
      unplug: async () => {
        await emulator.stop();
        await pty.close();
      },
      replug: async () => {
        pty = await createPtyPair(devicePath, emulatorPath);
        await emulator.start();
      },
    };
  }

  it('delivers scans with Vietnamese text and rejects garbage between them', async () => {
    const { scanner, emulator, scans, rejected } = await rig();
    expect(scanner.health).toBe('ok');
    const qr = '079204000777||Lê Đức Anh|02112004|Nam|45 Nguyễn Trãi, Phường Bến Thành|20092024';
    await emulator.scan(qr);
    await emulator.send(Buffer.from([0xff, 0xfe, 0x0d]));
    await emulator.scan('second');
    await until(() => scans.length === 2);
    expect(scans).toEqual([qr, 'second']);
    expect(rejected).toEqual(['invalid-utf8']);
  });

  it('reports missing when unplugged and recovers when the device returns', async () => {
    const { scanner, emulator, scans, unplug, replug } = await rig();
    await unplug();
    await until(() => scanner.health === 'missing');
    await replug();
    await until(() => scanner.health === 'ok');
    await emulator.scan('after replug');
    await until(() => scans.includes('after replug'));
  });
});

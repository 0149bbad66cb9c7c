import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPtyPair, SerialConnection } from '../../../devices/index.js';
import { HangupAwareBinding } from '../../../devices/transport/serial-port.js';
import { until } from '../../helpers/device-rig.js';

/**
 * A hung-up tty answers read(2) with 0 bytes (end of file). serialport's own binding reads again
 * at once, forever, and never reports the disconnect; these tests put the port in exactly that
 * state (the pty pair gone before the read is issued) so the outcome does not hang on a race.
 */
describe('serial ports that hang up', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function ptyPair() {
    const dir = mkdtempSync(join(tmpdir(), 'hangup-'));
    const pty = await createPtyPair(join(dir, 'device'), join(dir, 'device.emu'));
    cleanups.push(() => pty.close());
    return pty;
  }

  it('a read issued after the hang-up fails as a disconnect instead of spinning', async () => {
    const pty = await ptyPair();
    const port = await HangupAwareBinding.open({ path: pty.devicePath, baudRate: 9600, lock: false });
    cleanups.push(() => (port.isOpen ? port.close() : Promise.resolve()));
    await pty.close();
    const read = port.read(Buffer.alloc(64), 0, 64);
    await expect(read).rejects.toThrow(/hung up/);
    await expect(read).rejects.toMatchObject({ canceled: false });
  });

  it('a connection left with no reader reports missing, then ok on the same path again', async () => {
    const pty = await ptyPair();
    const connection = new SerialConnection({
      device: 'test',
      path: pty.devicePath,
      baudRate: 9600,
      retryMs: 50,
    });
    cleanups.push(() => connection.close());
    await connection.open();
    expect(connection.health).toBe('ok');
    await pty.close();
    await until(() => connection.health === 'missing');
    expect(connection.detail).toMatch(/hung up|EIO|closed|Bad file/);
    const again = await createPtyPair(pty.devicePath, pty.emulatorPath);
    cleanups.push(() => again.close());
    await until(() => connection.health === 'ok');
  });
});

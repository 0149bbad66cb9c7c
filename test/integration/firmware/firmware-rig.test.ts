/**
 * The conformance rig around the simulated board (firmware-rig.ts): a stable path across
 * unplug/replug, and a board that can be powered off with the cable still in.
 */
import { SerialPort } from 'serialport';
import { afterAll, describe, expect, it } from 'vitest';
import { type FirmwareDispenserRig, firmwareDispenserRig } from './firmware-rig.js';

const VERSION_REPLY = Buffer.from([0xf9, 2, 5]);

function open(path: string): Promise<{ port: SerialPort; received: () => Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const port = new SerialPort({ path, baudRate: 57600 }, (error) => {
      if (error) reject(error);
      else resolve({ port, received: () => received });
    });
    port.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
  });
}

async function waitFor(probe: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

let rig: FirmwareDispenserRig | undefined;
afterAll(() => rig?.close());

describe('firmware conformance rig', () => {
  it('replugs a fresh board at the same path and powers a board off with the cable in', async () => {
    rig = await firmwareDispenserRig();
    const first = await open(rig.path);
    expect(await waitFor(() => first.received().includes(VERSION_REPLY), 5000)).toBe(true);

    const closed = new Promise<void>((resolve) => first.port.once('close', () => resolve()));
    await rig.unplug();
    await closed; // the host sees the cable go
    await rig.replug();
    const second = await open(rig.path);
    expect(await waitFor(() => second.received().includes(VERSION_REPLY), 5000)).toBe(true); // boot again

    await rig.powerOff();
    // let what the board sent before it went off (the rest of its boot announcement) arrive
    let quietSince = second.received().length;
    while (await waitFor(() => second.received().length > quietSince, 200))
      quietSince = second.received().length;
    const before = second.received().length;
    second.port.write(Buffer.from([0xf9]));
    expect(await waitFor(() => second.received().length > before, 500)).toBe(false);
    expect(second.port.isOpen).toBe(true);
    await new Promise<void>((resolve) => second.port.close(() => resolve()));
  });
});

/**
 * The conformance rig around the simulated board (firmware-rig.ts): a stable path across
 * unplug/replug, and a board that can be powered off with the cable still in.
 */
import { createSerialPort, type SerialPortHandle } from '../../../devices/transport/serial-port.js';
import { afterAll, describe, expect, it } from 'vitest';
import { type FirmwareDispenserRig, firmwareDispenserRig } from './firmware-rig.js';

const VERSION_REPLY = Buffer.from([0xf9, 2, 5]);

function open(path: string): Promise<{ port: SerialPortHandle; received: () => Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const port = createSerialPort({ path, baudRate: 57600 });
    port.open((error) => {
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

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ]);
}

let rig: FirmwareDispenserRig | undefined;
afterAll(() => rig?.close());

describe('firmware conformance rig', () => {
  it('replugs a fresh board at the same path and powers a board off with the cable in', async () => {
    rig = await firmwareDispenserRig();
    rig.loadCards([4, 17]);
    const first = await withTimeout(open(rig.path), 5000, 'open');
    expect(await waitFor(() => first.received().includes(VERSION_REPLY), 5000)).toBe(true);

    const firstSim = rig.sim.process;
    await withTimeout(rig.unplug(), 5000, 'unplug');
    expect(firstSim.exitCode ?? firstSim.signalCode).not.toBeNull(); // that board is gone
    await new Promise<void>((resolve) => first.port.close(() => resolve()));
    await withTimeout(rig.replug(), 10_000, 'replug');
    // the vault outlives the power cycle: the fresh simulator holds the same cards
    const vaultQuery = rig.sim.lines().length;
    rig.sim.control('slots');
    await rig.sim.waitForLine(/^slots 4,17$/, 5000, vaultQuery);
    const second = await withTimeout(open(rig.path), 5000, 'open after replug');
    expect(await waitFor(() => second.received().includes(VERSION_REPLY), 5000)).toBe(true); // boot again

    await withTimeout(rig.powerOff(), 5000, 'power off');
    // let what the board sent before it went off (the rest of its boot announcement) arrive
    let quietSince = second.received().length;
    for (let round = 0; round < 25; round++) {
      if (!(await waitFor(() => second.received().length > quietSince, 200))) break;
      quietSince = second.received().length;
    }
    const before = second.received().length;
    second.port.write(Buffer.from([0xf9]));
    expect(await waitFor(() => second.received().length > before, 500)).toBe(false);
    expect(second.port.isOpen).toBe(true);
    await new Promise<void>((resolve) => second.port.close(() => resolve()));
  });
});

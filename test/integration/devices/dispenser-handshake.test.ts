/**
 * The dispenser driver (johnny-five over firmata-io, serialport on a pty) when the board misses
 * the first Firmata handshake: the query is lost (a board still in its bootloader, a line that
 * garbles the first bytes). firmata-io never asks again, so before the driver asked again itself
 * the board stayed "degraded" for good and the kiosk out of service. The wait here is bounded by
 * the test's timeout only; nothing is timed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DispenserEmulator, JohnnyFiveDispenser } from '../../../devices/index.js';
import { pluggablePty } from '../../helpers/device-rig.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('dispenser: a Firmata handshake the board did not hear', () => {
  it('is asked again until the board answers, and the board is then ready', async () => {
    const pty = await pluggablePty('dispenser-handshake');
    const emulator = new DispenserEmulator({ path: pty.emulatorPath });
    await emulator.start();
    cleanups.push(async () => {
      await emulator.stop();
      await pty.close();
    });
    // everything the driver sends in its first handshake is lost
    emulator.dropInputFor(1000);
    const dispenser = new JohnnyFiveDispenser({ path: pty.devicePath, baudRate: 57600, handshakeMs: 300 });
    const said: string[] = [];
    dispenser.on('health', (_health, detail) => void (detail && said.push(detail)));
    await dispenser.start();
    cleanups.push(() => dispenser.stop());

    while (dispenser.health !== 'ok') await new Promise((resolve) => setTimeout(resolve, 50));
    expect(said.some((detail) => detail.includes('asking again'))).toBe(true);
    // a working board: it answers a real command
    expect(await dispenser.sensors()).toMatchObject({ tray: false, station: false });
  }, 60_000);
});

/**
 * The firmware's hardware watchdog (avr-libc wdt, 500 ms) resets a hung board, and the motor is
 * off after the reset (PROTOCOL.md "Rules"). Runs a test build of the firmware that hangs on
 * request (FIRMWARE_TEST_HANG_SYSEX) in simavr, mid-move.
 */
import { createSerialPort, type SerialPortHandle } from '../../../devices/transport/serial-port.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Firmata,
  type FirmataBoard,
  type FirmwareSim,
  HANG_TEST_ELF,
  HANG_TEST_SYSEX,
  startFirmwareSim,
} from './firmware-sim.js';

const DISPENSER = 0x01;
const MOVE_TO_STATION = 0x01;
const STATUS = 0x05;
const STATE = 0x14;

let sim: FirmwareSim;
let port: SerialPortHandle;
let io: FirmataBoard;
const replies: number[][] = [];
let versionReports = 0;

beforeAll(async () => {
  sim = await startFirmwareSim(HANG_TEST_ELF);
  port = createSerialPort({ path: sim.ptyPath, baudRate: 57600 });
  io = new Firmata(port);
  port.open();
  io.on('reportversion', () => versionReports++);
  io.clearSysexResponse(DISPENSER);
  io.sysexResponse(DISPENSER, (data) => replies.push(data));
  await new Promise<void>((resolve) => io.once('ready', () => resolve()));
}, 120_000);

afterAll(async () => {
  if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  await sim?.stop();
});

describe('dispenser firmware watchdog', () => {
  it('resets a board that hangs mid-move, and the motor stops', async () => {
    expect(versionReports).toBe(1);
    io.sysexCommand([DISPENSER, MOVE_TO_STATION, 1, 0]);
    const motorOn = await sim.waitForLine(/^motor forward$/, 5000);
    io.sysexCommand([HANG_TEST_SYSEX]);
    await sim.waitForLine(/^motor off$/, 5000, motorOn);
    // no DONE arrived: the move never finished, the watchdog stopped it
    expect(sim.lines().slice(motorOn)).not.toContain('arrived station');
    // a reset board announces itself again (Firmata REPORT_VERSION on boot) and answers
    await expect.poll(() => versionReports, { timeout: 5000 }).toBe(2);
    io.sysexCommand([DISPENSER, STATUS, 2, 0]);
    await expect
      .poll(() => replies.find((reply) => reply[0] === STATE && reply[1] === 2), { timeout: 5000 })
      .toEqual([STATE, 2, 0]);
  });
});

/**
 * The dispenser controller's real firmware (firmware/, built with avr-gcc) running in simavr with
 * its UART on a pty, driven from Node by johnny-five over firmata-io over the project's serialport
 * — the stack devices/dispenser uses — through the DISPENSER sysex of devices/dispenser/PROTOCOL.md.
 */
import { execFileSync } from 'node:child_process';
import five from 'johnny-five';
import { createSerialPort, type SerialPortHandle } from '../../../devices/transport/serial-port.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Firmata,
  FIRMWARE_DIR,
  type FirmataBoard,
  type FirmwareSim,
  startFirmwareSim,
} from './firmware-sim.js';

// devices/dispenser/PROTOCOL.md
const DISPENSER = 0x01;
const OP = { MOVE_TO_STATION: 0x01, PRESENT: 0x02, RETRACT: 0x03, RETURN_TO_SLOT: 0x04, STATUS: 0x05 };
const EVENT = { ACCEPTED: 0x10, DONE: 0x11, FAULT: 0x12, SENSOR: 0x13, STATE: 0x14 };
const DONE = { STATION: 1, TRAY: 2, CAPTURE_BIN: 3, SLOT: 4 };
const FAULT = { JAM: 1, MOTOR_TIMEOUT: 2, BUSY: 3, BAD_ARGUMENT: 4, NOT_ALLOWED: 6 };
const STATE = { IDLE: 0, CARD_AT_STATION: 2, FAULT: 4 };
const UNSOLICITED = 0x7f;
const TRAY_SENSOR_PIN = 2;

interface DispenserEvent {
  event: number;
  seq: number;
  code: number;
}

let sim: FirmwareSim;
let port: SerialPortHandle;
let io: FirmataBoard;
let board: five.Board;
const events: DispenserEvent[] = [];
const trayReadings: number[] = [];
const listeners = new Set<() => void>();

function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const value = probe();
      if (value === undefined) return;
      clearTimeout(timer);
      listeners.delete(check);
      resolve(value);
    };
    const timer = setTimeout(() => {
      listeners.delete(check);
      reject(new Error(`${what} within ${timeoutMs} ms; events: ${JSON.stringify(events)}`));
    }, timeoutMs);
    listeners.add(check);
    check();
  });
}
const notify = () => {
  for (const listener of listeners) listener();
};

/** Sends one DISPENSER command and resolves with every reply to its seq once the last one is in. */
async function command(op: number, seq: number, arg: number): Promise<DispenserEvent[]> {
  const from = events.length;
  io.sysexCommand([DISPENSER, op, seq, arg]);
  const final = op === OP.STATUS ? [EVENT.STATE] : [EVENT.DONE, EVENT.FAULT];
  return until(`final reply to op ${op} seq ${seq}`, () => {
    const replies = events.slice(from).filter((e) => e.seq === seq);
    return replies.some((e) => final.includes(e.event)) ? replies : undefined;
  });
}

/** A move the mechanics complete: ACCEPTED, then DONE at `position`. */
async function expectMove(op: number, seq: number, arg: number, position: number): Promise<void> {
  expect(await command(op, seq, arg)).toEqual([
    { event: EVENT.ACCEPTED, seq, code: 0 },
    { event: EVENT.DONE, seq, code: position },
  ]);
}
/** A move that starts and then fails: ACCEPTED, then FAULT `fault`. */
async function expectFailedMove(op: number, seq: number, arg: number, fault: number): Promise<void> {
  expect(await command(op, seq, arg)).toEqual([
    { event: EVENT.ACCEPTED, seq, code: 0 },
    { event: EVENT.FAULT, seq, code: fault },
  ]);
}
/** A command refused at once: FAULT without ACCEPTED. */
async function expectRefused(op: number, seq: number, arg: number, fault: number): Promise<void> {
  expect(await command(op, seq, arg)).toEqual([{ event: EVENT.FAULT, seq, code: fault }]);
}
async function expectState(seq: number, state: number): Promise<void> {
  expect(await command(OP.STATUS, seq, 0)).toEqual([{ event: EVENT.STATE, seq, code: state }]);
}

beforeAll(async () => {
  sim = await startFirmwareSim();
  port = createSerialPort({ path: sim.ptyPath, baudRate: 57600 });
  io = new Firmata(port);
  port.open();
  io.clearSysexResponse(DISPENSER); // firmata-io keeps sysex handlers in a module-wide table
  io.sysexResponse(DISPENSER, (data) => {
    events.push({ event: data[0] ?? -1, seq: data[1] ?? -1, code: data[2] ?? -1 });
    notify();
  });
  board = new five.Board({ io, repl: false, debug: false, timeout: 20_000 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`board not ready:\n${sim.lines().join('\n')}`)), 20_000);
    board.on('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  io.pinMode(TRAY_SENSOR_PIN, io.MODES.INPUT);
  io.digitalRead(TRAY_SENSOR_PIN, (value) => {
    if (trayReadings.at(-1) !== value) trayReadings.push(value);
    notify();
  });
}, 120_000);

afterAll(async () => {
  if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  await sim?.stop();
});

describe('dispenser firmware in simavr, driven by johnny-five', () => {
  it('builds within the flash and RAM budget (make -C firmware)', () => {
    const output = execFileSync('make', ['-s', '-C', FIRMWARE_DIR], { encoding: 'utf8' });
    const size = output.match(
      /firmware size: flash (\d+) bytes \(limit (\d+)\), RAM (\d+) bytes \(limit (\d+)\)/,
    );
    expect(size, output).not.toBeNull();
    const [flash, flashLimit, ram, ramLimit] = (size ?? []).slice(1).map(Number);
    expect([flashLimit, ramLimit]).toEqual([28 * 1024, 1536]);
    expect(flash).toBeGreaterThan(1000); // a real program, not an empty ELF
    expect(flash).toBeLessThanOrEqual(28 * 1024);
    expect(ram).toBeLessThanOrEqual(1536);
  });

  it('starts as a Firmata board johnny-five reports ready, with the motor off', () => {
    expect(board.isReady).toBe(true);
    expect(io.version).toEqual({ major: 2, minor: 5 });
    expect(io.firmware.name).toBe('cccd-dispenser');
    expect(io.pins).toHaveLength(20);
    for (const owned of [0, 1, 5, 6, 7, 8]) expect(io.pins[owned]?.supportedModes).toEqual([]);
    expect(io.pins[3]?.supportedModes).toContain(io.MODES.PWM);
    expect(io.pins[2]?.supportedModes).toEqual([io.MODES.INPUT]); // the tray sensor
    expect(io.analogPins).toEqual([14, 15, 16, 17, 18, 19]);
    expect(sim.lines().filter((line) => line.startsWith('motor'))).toEqual([]);
  });

  it('drives digital outputs and PWM from johnny-five', async () => {
    const from = sim.lines().length;
    new five.Led({ pin: 13, board }).on();
    await sim.waitForLine(/^D13 1$/, 5000, from);
    new five.Led({ pin: 3, board }).brightness(128);
    await until('pin 3 state 128', () => {
      io.queryPinState(3, notify);
      return io.pins[3]?.state === 128 ? true : undefined;
    });
    expect(io.pins[3]?.mode).toBe(io.MODES.PWM);
  });

  it('reports an analog input at the sampling interval johnny-five sets', async () => {
    sim.control('a0 2500');
    await sim.waitForLine(/^A0 2500 mV$/, 5000);
    const readings: { value: number; at: number }[] = [];
    io.setSamplingInterval(50);
    io.analogRead(0, (value) => {
      readings.push({ value, at: performance.now() });
      notify();
    });
    await until('20 analog readings', () => (readings.length >= 20 ? true : undefined));
    io.reportAnalogPin(0, 0);
    // 2.5 V of 5 V on a 10-bit converter
    expect(readings.at(-1)?.value).toBeGreaterThanOrEqual(505);
    expect(readings.at(-1)?.value).toBeLessThanOrEqual(520);
    const last = readings.slice(-10);
    const meanInterval = ((last.at(-1)?.at ?? 0) - (last[0]?.at ?? 0)) / (last.length - 1);
    expect(meanInterval).toBeGreaterThan(35); // the board's 50 ms, not the default 19 ms
    sim.control('a0 1000');
    const from = readings.length;
    io.analogRead(0, (value) => {
      readings.push({ value, at: performance.now() });
      notify();
    });
    await until('a reading of the new voltage', () =>
      readings.slice(from).some((r) => r.value >= 195 && r.value <= 215) ? true : undefined,
    );
    io.reportAnalogPin(0, 0);
  });

  it('runs a full dispense cycle with its events in order', async () => {
    const from = events.length;
    const simFrom = sim.lines().length;
    await expectMove(OP.MOVE_TO_STATION, 1, 5, DONE.STATION);
    await expectState(2, STATE.CARD_AT_STATION);
    await expectMove(OP.PRESENT, 3, 0, DONE.TRAY);
    await until('johnny-five reads the card in the tray', () =>
      trayReadings.at(-1) === 1 ? true : undefined,
    );
    sim.takeCard();
    await until('card taken', () => events.find((e, i) => i >= from && e.event === EVENT.SENSOR));
    await until('johnny-five reads the tray empty', () => (trayReadings.at(-1) === 0 ? true : undefined));
    await expectState(4, STATE.IDLE);

    expect(events.slice(from)).toEqual([
      { event: EVENT.ACCEPTED, seq: 1, code: 0 },
      { event: EVENT.DONE, seq: 1, code: DONE.STATION },
      { event: EVENT.STATE, seq: 2, code: STATE.CARD_AT_STATION },
      { event: EVENT.ACCEPTED, seq: 3, code: 0 },
      { event: EVENT.DONE, seq: 3, code: DONE.TRAY },
      { event: EVENT.SENSOR, seq: UNSOLICITED, code: 1 },
      { event: EVENT.STATE, seq: 4, code: STATE.IDLE },
    ]);
    const mechanics = sim
      .lines()
      .slice(simFrom)
      .filter((line) => /^(motor|arrived|card)/.test(line));
    expect(mechanics).toEqual([
      'motor forward',
      'arrived station',
      'motor off',
      'motor forward',
      'arrived tray',
      'motor off',
      'card taken',
    ]);
  });

  it('answers busy while a move runs, then returns the card to its slot', async () => {
    const from = events.length;
    io.sysexCommand([DISPENSER, OP.MOVE_TO_STATION, 10, 0]);
    io.sysexCommand([DISPENSER, OP.RETRACT, 11, 0]);
    await until('DONE 10', () => events.find((e, i) => i >= from && e.seq === 10 && e.event === EVENT.DONE));
    expect(events.slice(from)).toEqual([
      { event: EVENT.ACCEPTED, seq: 10, code: 0 },
      { event: EVENT.FAULT, seq: 11, code: FAULT.BUSY },
      { event: EVENT.DONE, seq: 10, code: DONE.STATION },
    ]);
    await expectRefused(OP.RETURN_TO_SLOT, 12, 64, FAULT.BAD_ARGUMENT);
    await expectMove(OP.RETURN_TO_SLOT, 13, 0, DONE.SLOT);
  });

  it('reports a simulated jam as a jam, stops the motor, and recovers by retract', async () => {
    const simFrom = sim.lines().length;
    sim.injectFault('jam');
    await sim.waitForLine(/^jam armed$/, 5000, simFrom);
    await expectFailedMove(OP.MOVE_TO_STATION, 20, 9, FAULT.JAM);
    await sim.waitForLine(/^motor off$/, 5000, await sim.waitForLine(/^jam$/, 5000, simFrom));
    await expectState(21, STATE.FAULT);
    await expectRefused(OP.PRESENT, 22, 0, FAULT.NOT_ALLOWED);
    await expectMove(OP.RETRACT, 23, 0, DONE.CAPTURE_BIN);
    await expectState(24, STATE.IDLE);
  });

  it('reports a move that never reaches its stop as a motor timeout', async () => {
    sim.injectFault('motor-timeout');
    await sim.waitForLine(/^stall armed$/, 5000);
    // the fault code is the behaviour; how long the board waits is its 3 s limit (not timed here)
    await expectFailedMove(OP.MOVE_TO_STATION, 30, 1, FAULT.MOTOR_TIMEOUT);
    await expectMove(OP.RETRACT, 31, 0, DONE.CAPTURE_BIN);
  });

  it('survives garbage, truncated and oversized sysex, and still answers', async () => {
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % 0xff; // 0x00..0xFE: no SYSTEM_RESET
    };
    const garbage = [
      ...[0xf0, DISPENSER, OP.MOVE_TO_STATION], // truncated DISPENSER sysex
      // no START_SYSEX either: a random sysex could be a valid DISPENSER command and move the card
      ...Array.from({ length: 2000 }, random).filter((byte) => byte !== 0xf0),
      ...[0xf0, DISPENSER, ...Array.from({ length: 1000 }, (_, i) => i & 0x7f), 0xf7], // oversized
      ...[0x90, 0x01], // truncated digital message
    ];
    port.write(Buffer.from(garbage));
    const firmware = new Promise<void>((resolve) => io.queryFirmware(resolve));
    await until('REPORT_FIRMWARE after garbage', () =>
      io.firmware.name === 'cccd-dispenser' ? true : undefined,
    );
    await firmware;
    await expectState(40, STATE.IDLE);
    expect(sim.process.exitCode).toBeNull();
    expect(sim.lines().filter((line) => /^motor (forward|reverse)$/.test(line)).length).toBe(
      sim.lines().filter((line) => line === 'motor off').length,
    );
  });
});

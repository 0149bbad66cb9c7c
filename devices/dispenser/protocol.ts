/**
 * The dispenser controller's wire (devices/dispenser/PROTOCOL.md): Firmata 2.x messages
 * (firmata/protocol `protocol.md`, MIDI-style: a status byte ≥ 0x80 then 7-bit data bytes) plus
 * the DISPENSER sysex 0x01. Pure codec: no I/O, no clock. The host side of Firmata is firmata-io
 * (under johnny-five); this module gives the emulator (and tests) the board's side, and both
 * sides the DISPENSER sysex.
 */

export const FIRMATA = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  START_SYSEX: 0xf0,
  END_SYSEX: 0xf7,
  // sysex commands
  EXTENDED_ANALOG: 0x6f,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

export const PIN_MODE = { INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, PULLUP: 0x0b } as const;

/** PROTOCOL.md "Sysex extension DISPENSER". */
export const DISPENSER_SYSEX = 0x01;
export const OP = {
  moveToStation: 0x01,
  present: 0x02,
  retract: 0x03,
  returnToSlot: 0x04,
  status: 0x05,
  sensors: 0x06,
} as const;
export const EVENT = {
  accepted: 0x10,
  done: 0x11,
  fault: 0x12,
  sensor: 0x13,
  state: 0x14,
  sensors: 0x15,
} as const;
/** SENSORS code bits: the card sensors (tray D2, chip station D9) and the position sensor (D7). */
export const SENSE = { tray: 0x01, station: 0x02, atStop: 0x04 } as const;

/** The sensors as the board reports them (SENSORS, at boot and on query). */
export interface CardSensors {
  /** a card lies in the tray */
  tray: boolean;
  /** a card sits at the chip station */
  station: boolean;
  /** the carriage stands at a stop: false after a reset caught a move half-way */
  atStop: boolean;
}

export function decodeSensors(code: number): CardSensors {
  return {
    tray: (code & SENSE.tray) !== 0,
    station: (code & SENSE.station) !== 0,
    atStop: (code & SENSE.atStop) !== 0,
  };
}
export const POSITION = { station: 1, tray: 2, captureBin: 3, slot: 4 } as const;
export const FAULT = {
  jam: 1,
  motorTimeout: 2,
  busy: 3,
  badArgument: 4,
  noCard: 5,
  notAllowed: 6,
} as const;
export type FaultName = keyof typeof FAULT;
export const FAULT_NAME: Record<number, FaultName> = Object.fromEntries(
  Object.entries(FAULT).map(([name, code]) => [code, name as FaultName]),
);
export const SENSOR = { cardTaken: 1, cardPlaced: 2 } as const;
export const MECH_STATE = { idle: 0, moving: 1, atStation: 2, inTray: 3, fault: 4 } as const;
export type MechanicsState = keyof typeof MECH_STATE;
export const MECH_STATE_NAME: Record<number, MechanicsState> = Object.fromEntries(
  Object.entries(MECH_STATE).map(([name, code]) => [code, name as MechanicsState]),
);
/** seq of unsolicited SENSOR events */
export const UNSOLICITED_SEQ = 0x7f;
export const MAX_SLOT = 63;

/** PROTOCOL.md "Timing of the reference mechanics". */
export const MECHANICS_TIMING_MS = {
  slotToStation: 800,
  stationToTray: 600,
  toCaptureBin: 700,
  stationToSlot: 800,
  moveLimit: 3000,
} as const;

/** Pins (Arduino Uno numbering), PROTOCOL.md "Pins". */
export const PINS = { traySensor: 2, ledRing: 3, statusLed: 4, boardLed: 13 } as const;

export interface DispenserCommand {
  op: number;
  seq: number;
  arg: number;
}

export interface DispenserReply {
  event: number;
  seq: number;
  code: number;
}

const sevenBit = (value: number, what: string) => {
  if (!Number.isInteger(value) || value < 0 || value > 0x7f) throw new RangeError(`${what} must be 0–127`);
  return value;
};

/** Host → board: F0 01 op seq arg F7. */
export function encodeDispenserCommand({ op, seq, arg }: DispenserCommand): Buffer {
  return Buffer.from([
    FIRMATA.START_SYSEX,
    DISPENSER_SYSEX,
    sevenBit(op, 'op'),
    sevenBit(seq, 'seq'),
    sevenBit(arg, 'arg'),
    FIRMATA.END_SYSEX,
  ]);
}

/** Board → host: F0 01 event seq code F7. */
export function encodeDispenserReply({ event, seq, code }: DispenserReply): Buffer {
  return Buffer.from([
    FIRMATA.START_SYSEX,
    DISPENSER_SYSEX,
    sevenBit(event, 'event'),
    sevenBit(seq, 'seq'),
    sevenBit(code, 'code'),
    FIRMATA.END_SYSEX,
  ]);
}

const KNOWN_EVENTS = new Set<number>(Object.values(EVENT));

/** A DISPENSER sysex body (the bytes after 0x01, before F7) → reply; undefined if malformed. */
export function decodeDispenserReply(body: readonly number[]): DispenserReply | undefined {
  if (body.length !== 3) return undefined;
  const [event, seq, code] = body as [number, number, number];
  if (!KNOWN_EVENTS.has(event) || seq > 0x7f || code > 0x7f) return undefined;
  return { event, seq, code };
}

export function decodeDispenserCommand(body: readonly number[]): DispenserCommand | undefined {
  if (body.length !== 3) return undefined;
  const [op, seq, arg] = body as [number, number, number];
  if (op < OP.moveToStation || op > OP.sensors || seq > 0x7f || arg > 0x7f) return undefined;
  return { op, seq, arg };
}

// ---- Firmata message framing ----------------------------------------------------------------------

export type FirmataMessage =
  | { kind: 'sysex'; command: number; data: number[] }
  | { kind: 'digital'; port: number; value: number }
  | { kind: 'analog'; pin: number; value: number }
  | { kind: 'report-digital'; port: number; enable: boolean }
  | { kind: 'report-analog'; pin: number; enable: boolean }
  | { kind: 'set-pin-mode'; pin: number; mode: number }
  | { kind: 'set-digital-pin'; pin: number; value: number }
  | { kind: 'report-version'; major?: number; minor?: number }
  | { kind: 'system-reset' };

export type FirmataFrame =
  { kind: 'message'; message: FirmataMessage } | { kind: 'error'; error: FirmataDecodeError };

export class FirmataDecodeError extends Error {
  override readonly name = 'FirmataDecodeError';
  constructor(
    readonly reason: 'stray-data' | 'interrupted' | 'overlong-sysex' | 'unknown-status',
    readonly length: number,
  ) {
    super(`firmata message rejected: ${reason} (${length} bytes)`);
  }
}

/** Longest sysex we accept; the board's own replies are far shorter (capability: ~100 bytes). */
export const MAX_SYSEX = 512;

/**
 * Splits a Firmata byte stream into messages wherever chunks are cut. `from` says whose bytes
 * these are: REPORT_VERSION is one byte from the host and three from the board. A status byte
 * in the middle of a message interrupts it (MIDI running status is not used by Firmata).
 */
export class FirmataDecoder {
  private message: number[] = [];
  private stray = 0;

  constructor(private readonly from: 'host' | 'board') {}

  push(chunk: Uint8Array): FirmataFrame[] {
    const out: FirmataFrame[] = [];
    for (const byte of chunk) this.byte(byte, out);
    return out;
  }

  private byte(byte: number, out: FirmataFrame[]): void {
    const m = this.message;
    if (byte >= 0x80) {
      if (this.stray > 0) {
        out.push({ kind: 'error', error: new FirmataDecodeError('stray-data', this.stray) });
        this.stray = 0;
      }
      if (byte === FIRMATA.END_SYSEX && m[0] === FIRMATA.START_SYSEX) {
        this.message = [];
        if (m.length >= 2)
          out.push({
            kind: 'message',
            message: { kind: 'sysex', command: m[1] as number, data: m.slice(2) },
          });
        return;
      }
      if (m.length > 0) out.push({ kind: 'error', error: new FirmataDecodeError('interrupted', m.length) });
      this.message = [byte];
      this.complete(out);
      return;
    }
    if (m.length === 0) {
      this.stray++;
      return;
    }
    m.push(byte);
    if (m[0] === FIRMATA.START_SYSEX && m.length > MAX_SYSEX) {
      out.push({ kind: 'error', error: new FirmataDecodeError('overlong-sysex', m.length) });
      this.message = [];
      return;
    }
    this.complete(out);
  }

  /** Emits the message under construction if it has all its bytes. */
  private complete(out: FirmataFrame[]): void {
    const m = this.message;
    const status = m[0] as number;
    if (status === FIRMATA.START_SYSEX) return;
    const type = status < 0xf0 ? status & 0xf0 : status;
    const channel = status & 0x0f;
    const length = messageLength(type, this.from);
    if (length === undefined) {
      out.push({ kind: 'error', error: new FirmataDecodeError('unknown-status', 1) });
      this.message = [];
      return;
    }
    if (m.length < length) return;
    this.message = [];
    const a = m[1] ?? 0;
    const b = m[2] ?? 0;
    const message: FirmataMessage | undefined =
      type === FIRMATA.DIGITAL_MESSAGE
        ? { kind: 'digital', port: channel, value: a | (b << 7) }
        : type === FIRMATA.ANALOG_MESSAGE
          ? { kind: 'analog', pin: channel, value: a | (b << 7) }
          : type === FIRMATA.REPORT_DIGITAL
            ? { kind: 'report-digital', port: channel, enable: a !== 0 }
            : type === FIRMATA.REPORT_ANALOG
              ? { kind: 'report-analog', pin: channel, enable: a !== 0 }
              : type === FIRMATA.SET_PIN_MODE
                ? { kind: 'set-pin-mode', pin: a, mode: b }
                : type === FIRMATA.SET_DIGITAL_PIN_VALUE
                  ? { kind: 'set-digital-pin', pin: a, value: b }
                  : type === FIRMATA.REPORT_VERSION
                    ? this.from === 'board'
                      ? { kind: 'report-version', major: a, minor: b }
                      : { kind: 'report-version' }
                    : type === FIRMATA.SYSTEM_RESET
                      ? { kind: 'system-reset' }
                      : undefined;
    if (message) out.push({ kind: 'message', message });
  }
}

function messageLength(type: number, from: 'host' | 'board'): number | undefined {
  switch (type) {
    case FIRMATA.DIGITAL_MESSAGE:
    case FIRMATA.ANALOG_MESSAGE:
    case FIRMATA.SET_PIN_MODE:
    case FIRMATA.SET_DIGITAL_PIN_VALUE:
      return 3;
    case FIRMATA.REPORT_DIGITAL:
    case FIRMATA.REPORT_ANALOG:
      return 2;
    case FIRMATA.REPORT_VERSION:
      return from === 'host' ? 1 : 3;
    case FIRMATA.SYSTEM_RESET:
      return 1;
    default:
      return undefined;
  }
}

/** Encodes a message as the given side sends it (the inverse of FirmataDecoder). */
export function encodeFirmata(message: FirmataMessage): Buffer {
  switch (message.kind) {
    case 'sysex':
      return Buffer.from([FIRMATA.START_SYSEX, message.command, ...message.data, FIRMATA.END_SYSEX]);
    case 'digital':
      return Buffer.from([
        FIRMATA.DIGITAL_MESSAGE | message.port,
        message.value & 0x7f,
        (message.value >> 7) & 0x7f,
      ]);
    case 'analog':
      return Buffer.from([
        FIRMATA.ANALOG_MESSAGE | message.pin,
        message.value & 0x7f,
        (message.value >> 7) & 0x7f,
      ]);
    case 'report-digital':
      return Buffer.from([FIRMATA.REPORT_DIGITAL | message.port, message.enable ? 1 : 0]);
    case 'report-analog':
      return Buffer.from([FIRMATA.REPORT_ANALOG | message.pin, message.enable ? 1 : 0]);
    case 'set-pin-mode':
      return Buffer.from([FIRMATA.SET_PIN_MODE, message.pin, message.mode]);
    case 'set-digital-pin':
      return Buffer.from([FIRMATA.SET_DIGITAL_PIN_VALUE, message.pin, message.value]);
    case 'report-version':
      return message.major === undefined
        ? Buffer.from([FIRMATA.REPORT_VERSION])
        : Buffer.from([FIRMATA.REPORT_VERSION, message.major, message.minor ?? 0]);
    case 'system-reset':
      return Buffer.from([FIRMATA.SYSTEM_RESET]);
  }
}

import { EmulatorPort } from '../transport/emulator-port.js';
import { sleepUntil, WireClock } from '../transport/wire-clock.js';
import {
  DISPENSER_SYSEX,
  decodeDispenserCommand,
  EVENT,
  encodeDispenserReply,
  encodeFirmata,
  FAULT,
  FIRMATA,
  FirmataDecoder,
  type FirmataMessage,
  MAX_SLOT,
  MECH_STATE,
  MECHANICS_TIMING_MS,
  OP,
  PIN_MODE,
  PINS,
  POSITION,
  SENSE,
  SENSOR,
  UNSOLICITED_SEQ,
} from './protocol.js';

const PIN_COUNT = 20; // Uno: D0–D13, A0–A5 (= pins 14–19)
const FIRMWARE_NAME = 'cccd-dispenser-emu';
/** pins the firmware owns (serial; motor drive, position, jam and card-at-station sensors,
 *  PROTOCOL.md "Pins"): no modes for the host */
const FIRMWARE_PINS = new Set([0, 1, 5, 6, 7, 8, 9]);

export type InjectedFault = 'jam' | 'motor-timeout';

interface Move {
  seq: number;
  durationMs: number;
  position: number;
  /** a card rides this move (a reset mid-move leaves it between two stops) */
  carriesCard: boolean;
  /** the mechanics at the move's end; a FAULT code instead of DONE when the sensors say so */
  after: () => number | undefined;
}

/**
 * The dispenser's controller board as a Node program on the emulator end of a pty, for the demo and
 * the device layer's tests (the firmware itself runs in simavr in test/integration/firmware; both
 * pass the same conformance suite). It speaks the Firmata subset johnny-five needs to report
 * ready (REPORT_VERSION, REPORT_FIRMWARE, CAPABILITY and ANALOG_MAPPING responses, PIN_STATE,
 * pin modes, digital writes and reporting, SAMPLING_INTERVAL) and the DISPENSER sysex with the
 * mechanics' timing of PROTOCOL.md. Tests load cards into slots, take the card from the tray and
 * inject a jam or a motor timeout into the next move.
 */
export class DispenserEmulator {
  private readonly port: EmulatorPort;
  private decoder = new FirmataDecoder('host');
  private readonly clock: WireClock;
  private readonly modes = new Array<number>(PIN_COUNT).fill(PIN_MODE.OUTPUT);
  private readonly values = new Array<number>(PIN_COUNT).fill(0);
  private readonly reportedPorts = new Set<number>();
  private state: number = MECH_STATE.idle;
  private moving: Move | undefined;
  private moveTimer: NodeJS.Timeout | undefined;
  private injected: InjectedFault | undefined;
  /** vault slots that hold a card */
  readonly slots = new Set<number>();
  /** the slot whose card is at the chip station or in the tray (the rig serves that card's chip) */
  stationSlot: number | undefined;
  /** what left the vault: how many cards went to the capture bin */
  captured = 0;
  /** writes of the LED ring (PWM on D3), newest last */
  readonly ledRing: number[] = [];
  /** the position sensor (D7): false after a reset or a fault stopped the carriage between stops */
  private carriageAtStop = true;
  /** cards a reset caught between two stops: no sensor sees them, staff must take them out */
  adrift = 0;
  /** how many times the board booted after a reset (the watchdog's, or `reset()`) */
  resets = 0;
  /** input before this time is dropped (`dropInputFor`) */
  private deafUntil = 0;

  constructor(private readonly options: { path: string; baudRate?: number; timeScale?: number }) {
    this.clock = new WireClock(options.baudRate ?? 57600);
    this.port = new EmulatorPort(options.path, (chunk) => this.receive(chunk));
  }

  get mechanicsState(): number {
    return this.state;
  }

  async start(): Promise<void> {
    this.clock.reset();
    this.decoder = new FirmataDecoder('host');
    await this.port.open(this.options.baudRate ?? 57600);
  }

  /** Powers the board off: the move in progress stops where it is. */
  async stop(): Promise<void> {
    clearTimeout(this.moveTimer);
    this.moveTimer = undefined;
    if (this.moving) {
      this.moving = undefined;
      this.state = MECH_STATE.fault;
    }
    await this.port.close();
  }

  /**
   * The board resets (its watchdog fired, or a brown-out): the motor stops at once, Firmata state
   * (pin modes, reporting) is lost, and the board boots again as PROTOCOL.md "Rules" says — the
   * state from the card sensors, REPORT_VERSION, the firmware name, an unsolicited SENSORS. A card
   * a move was carrying stays between two stops, where no sensor sees it.
   */
  reset(): void {
    clearTimeout(this.moveTimer);
    this.moveTimer = undefined;
    const caught = this.moving?.carriesCard === true || this.state === MECH_STATE.fault;
    if (this.moving) this.carriageAtStop = false;
    this.moving = undefined;
    if (caught) {
      this.adrift++;
      this.stationSlot = undefined;
      this.values[PINS.traySensor] = 0;
    }
    const { tray, station } = this.sensors();
    this.state =
      tray && station
        ? MECH_STATE.fault
        : station
          ? MECH_STATE.atStation
          : tray
            ? MECH_STATE.inTray
            : MECH_STATE.idle;
    if (this.state === MECH_STATE.idle) this.stationSlot = undefined;
    this.modes.fill(PIN_MODE.OUTPUT);
    this.reportedPorts.clear();
    this.decoder = new FirmataDecoder('host');
    this.injected = undefined;
    this.resets++;
    this.send(encodeFirmata({ kind: 'report-version', major: 2, minor: 5 }));
    this.sendFirmwareName();
    this.sendReply(EVENT.sensors, UNSOLICITED_SEQ, this.sensorBits());
  }

  /** What the tray (D2) and card-at-station (D9) sensors see now. */
  private sensors(): { tray: boolean; station: boolean; atStop: boolean } {
    const moving = this.moving !== undefined;
    return {
      tray: !moving && this.state === MECH_STATE.inTray,
      station: !moving && this.state === MECH_STATE.atStation && this.stationSlot !== undefined,
      atStop: !moving && this.carriageAtStop,
    };
  }

  private sensorBits(): number {
    const { tray, station, atStop } = this.sensors();
    return (tray ? SENSE.tray : 0) | (station ? SENSE.station : 0) | (atStop ? SENSE.atStop : 0);
  }

  loadCards(slots: Iterable<number>): void {
    for (const slot of slots) this.slots.add(slot);
  }

  /** The next move stops with this fault (jam: halfway; motor timeout: at the move's time limit). */
  injectFault(fault: InjectedFault): void {
    this.injected = fault;
  }

  /** The citizen takes the card from the tray. */
  takeCard(): boolean {
    if (this.state !== MECH_STATE.inTray) return false;
    this.state = MECH_STATE.idle;
    this.stationSlot = undefined;
    this.setInput(PINS.traySensor, 0);
    this.sendReply(EVENT.sensor, UNSOLICITED_SEQ, SENSOR.cardTaken);
    return true;
  }

  /**
   * The board drops what reaches it for `ms`, as a board still in its bootloader, or a line that
   * garbles the first bytes after the port opens, would (tests: the host must ask again).
   */
  dropInputFor(ms: number): void {
    this.deafUntil = Date.now() + ms;
  }

  private receive(chunk: Buffer): void {
    if (Date.now() < this.deafUntil) return;
    const at = this.clock.arrive(chunk.length);
    for (const frame of this.decoder.push(chunk)) {
      if (frame.kind === 'message') void sleepUntil(at).then(() => this.handle(frame.message));
    }
  }

  private send(bytes: Buffer): void {
    void sleepUntil(this.clock.departure(bytes.length)).then(() => this.port.write(bytes));
  }

  private sendReply(event: number, seq: number, code: number): void {
    this.send(encodeDispenserReply({ event, seq, code }));
  }

  private handle(message: FirmataMessage): void {
    switch (message.kind) {
      case 'report-version':
        this.send(encodeFirmata({ kind: 'report-version', major: 2, minor: 5 }));
        return;
      case 'system-reset':
        this.reportedPorts.clear();
        this.stopMove(FAULT.motorTimeout); // PROTOCOL.md "Rules": SYSTEM_RESET stops a move
        return;
      case 'set-pin-mode':
        if (message.pin < PIN_COUNT && !FIRMWARE_PINS.has(message.pin))
          this.modes[message.pin] = message.mode;
        return;
      case 'set-digital-pin':
        this.writeOutput(message.pin, message.value);
        return;
      case 'digital':
        for (let bit = 0; bit < 8; bit++)
          this.writeOutput(message.port * 8 + bit, (message.value >> bit) & 1);
        return;
      case 'analog':
        if (message.pin === PINS.ledRing) this.ledRing.push(message.value);
        return;
      case 'report-digital':
        if (message.enable) {
          this.reportedPorts.add(message.port);
          this.reportPort(message.port);
        } else this.reportedPorts.delete(message.port);
        return;
      case 'report-analog':
        return;
      case 'sysex':
        this.sysex(message.command, message.data);
        return;
    }
  }

  private sysex(command: number, data: number[]): void {
    switch (command) {
      case FIRMATA.REPORT_FIRMWARE:
        this.sendFirmwareName();
        return;
      case FIRMATA.CAPABILITY_QUERY: {
        const body: number[] = [];
        for (let pin = 0; pin < PIN_COUNT; pin++) {
          if (!FIRMWARE_PINS.has(pin)) {
            body.push(PIN_MODE.INPUT, 1, PIN_MODE.OUTPUT, 1, PIN_MODE.PULLUP, 1);
            if (pin === PINS.ledRing) body.push(PIN_MODE.PWM, 8);
            if (pin >= 14) body.push(PIN_MODE.ANALOG, 10);
          }
          body.push(0x7f);
        }
        this.send(encodeFirmata({ kind: 'sysex', command: FIRMATA.CAPABILITY_RESPONSE, data: body }));
        return;
      }
      case FIRMATA.ANALOG_MAPPING_QUERY: {
        const body = Array.from({ length: PIN_COUNT }, (_, pin) => (pin >= 14 ? pin - 14 : 0x7f));
        this.send(encodeFirmata({ kind: 'sysex', command: FIRMATA.ANALOG_MAPPING_RESPONSE, data: body }));
        return;
      }
      case FIRMATA.PIN_STATE_QUERY: {
        const pin = data[0] ?? 0;
        if (pin >= PIN_COUNT) return;
        const state = this.values[pin] ?? 0;
        this.send(
          encodeFirmata({
            kind: 'sysex',
            command: FIRMATA.PIN_STATE_RESPONSE,
            data: [pin, this.modes[pin] ?? 0, state & 0x7f],
          }),
        );
        return;
      }
      case FIRMATA.EXTENDED_ANALOG:
        if (data[0] === PINS.ledRing) this.ledRing.push((data[1] ?? 0) | ((data[2] ?? 0) << 7));
        return;
      case DISPENSER_SYSEX:
        this.dispenser(data);
        return;
      default:
        return; // SAMPLING_INTERVAL and others: accepted, nothing to answer
    }
  }

  private sendFirmwareName(): void {
    const name = [...Buffer.from(FIRMWARE_NAME)].flatMap((byte) => [byte & 0x7f, byte >> 7]);
    this.send(encodeFirmata({ kind: 'sysex', command: FIRMATA.REPORT_FIRMWARE, data: [2, 5, ...name] }));
  }

  private dispenser(data: number[]): void {
    const command = decodeDispenserCommand(data);
    if (!command) {
      // a DISPENSER sysex we cannot read: answer with "bad argument" on whatever seq it had
      this.sendReply(EVENT.fault, (data[1] ?? 0) & 0x7f, FAULT.badArgument);
      return;
    }
    const { op, seq, arg } = command;
    const timing = MECHANICS_TIMING_MS;
    if (op === OP.status) {
      this.sendReply(EVENT.state, seq, this.state);
      return;
    }
    if (op === OP.sensors) {
      if (arg !== 0) return this.sendReply(EVENT.fault, seq, FAULT.badArgument);
      return this.sendReply(EVENT.sensors, seq, this.sensorBits());
    }
    if (this.moving) return this.sendReply(EVENT.fault, seq, FAULT.busy);
    const state = this.state;
    switch (op) {
      case OP.moveToStation:
        if (arg > MAX_SLOT) return this.sendReply(EVENT.fault, seq, FAULT.badArgument);
        if (state !== MECH_STATE.idle) return this.sendReply(EVENT.fault, seq, FAULT.notAllowed);
        {
          // The board cannot see into the vault: it learns that the slot was empty from the card
          // sensor at the station when the move arrives (PROTOCOL.md, FAULT 5). The card leaves
          // its slot as the move starts.
          const cardInSlot = this.slots.delete(arg);
          return this.startMove({
            seq,
            durationMs: timing.slotToStation,
            position: POSITION.station,
            carriesCard: cardInSlot,
            after: () => {
              this.state = cardInSlot ? MECH_STATE.atStation : MECH_STATE.idle;
              if (cardInSlot) this.stationSlot = arg;
              return cardInSlot ? undefined : FAULT.noCard;
            },
          });
        }
      case OP.present:
        if (state !== MECH_STATE.atStation) return this.sendReply(EVENT.fault, seq, FAULT.notAllowed);
        return this.startMove({
          seq,
          durationMs: timing.stationToTray,
          position: POSITION.tray,
          carriesCard: true,
          after: () => {
            this.state = MECH_STATE.inTray;
            this.setInput(PINS.traySensor, 1);
            return undefined;
          },
        });
      case OP.retract:
        if (state !== MECH_STATE.atStation && state !== MECH_STATE.inTray && state !== MECH_STATE.fault)
          return this.sendReply(EVENT.fault, seq, FAULT.notAllowed);
        return this.startMove({
          seq,
          durationMs: timing.toCaptureBin,
          position: POSITION.captureBin,
          carriesCard: true,
          after: () => {
            this.captured++;
            this.stationSlot = undefined;
            this.state = MECH_STATE.idle;
            this.setInput(PINS.traySensor, 0);
            return undefined;
          },
        });
      case OP.returnToSlot:
        if (arg > MAX_SLOT) return this.sendReply(EVENT.fault, seq, FAULT.badArgument);
        // Whether the slot is free is the host's bookkeeping: the board has no sensor in the vault.
        if (state !== MECH_STATE.atStation && state !== MECH_STATE.fault)
          return this.sendReply(EVENT.fault, seq, FAULT.notAllowed);
        return this.startMove({
          seq,
          durationMs: timing.stationToSlot,
          position: POSITION.slot,
          carriesCard: true,
          after: () => {
            this.slots.add(arg);
            this.stationSlot = undefined;
            this.state = MECH_STATE.idle;
            return undefined;
          },
        });
      default:
        return this.sendReply(EVENT.fault, seq, FAULT.badArgument);
    }
  }

  private startMove(move: Move): void {
    const scale = this.options.timeScale ?? 1;
    this.moving = move;
    this.state = MECH_STATE.moving;
    this.sendReply(EVENT.accepted, move.seq, 0);
    const fault = this.injected;
    this.injected = undefined;
    const [delay, injectedCode] =
      fault === 'jam'
        ? [move.durationMs / 2, FAULT.jam]
        : fault === 'motor-timeout'
          ? [MECHANICS_TIMING_MS.moveLimit, FAULT.motorTimeout]
          : [move.durationMs, undefined];
    this.moveTimer = setTimeout(() => {
      this.moveTimer = undefined;
      this.moving = undefined;
      let code: number | undefined;
      if (injectedCode === undefined) {
        this.carriageAtStop = true;
        code = move.after(); // at the stop: the sensors decide (DONE, or FAULT "no card")
      } else {
        this.carriageAtStop = false;
        this.state = MECH_STATE.fault; // stopped short of the stop
        code = injectedCode;
      }
      if (code === undefined) this.sendReply(EVENT.done, move.seq, move.position);
      else this.sendReply(EVENT.fault, move.seq, code);
    }, delay * scale);
  }

  /** The motor stops short of its stop: the move in progress ends with this FAULT, faulted. */
  private stopMove(code: number): void {
    if (!this.moving) return;
    clearTimeout(this.moveTimer);
    this.moveTimer = undefined;
    const { seq } = this.moving;
    this.moving = undefined;
    this.carriageAtStop = false;
    this.state = MECH_STATE.fault;
    this.sendReply(EVENT.fault, seq, code);
  }

  private writeOutput(pin: number, value: number): void {
    if (pin >= PIN_COUNT || FIRMWARE_PINS.has(pin)) return;
    if (this.modes[pin] === PIN_MODE.OUTPUT) this.values[pin] = value ? 1 : 0;
  }

  /** A sensor input changed: store it and, if its port is reported, send the port (Firmata). */
  private setInput(pin: number, value: number): void {
    this.values[pin] = value;
    const port = pin >> 3;
    if (this.reportedPorts.has(port)) this.reportPort(port);
  }

  private reportPort(port: number): void {
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      if (pin < PIN_COUNT && (this.modes[pin] === PIN_MODE.INPUT || this.modes[pin] === PIN_MODE.PULLUP))
        value |= (this.values[pin] ?? 0) << bit;
    }
    this.send(encodeFirmata({ kind: 'digital', port, value }));
  }
}

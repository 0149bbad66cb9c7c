import { EventEmitter } from 'node:events';
import firmataIo, { type Firmata as FirmataBoard, type FirmataTransport } from 'firmata-io';
import five from 'johnny-five';
import {
  DeviceCanceled,
  DeviceDisconnected,
  DeviceFault,
  DeviceProtocolError,
  DeviceTimeout,
} from '../transport/errors.js';
import {
  type LinkHealth,
  type ReopenableSerial,
  SerialConnection,
  type SerialParams,
} from '../transport/serial.js';
import {
  type CardSensors,
  DISPENSER_SYSEX,
  decodeSensors,
  type DispenserReply,
  decodeDispenserReply,
  EVENT,
  FAULT_NAME,
  type FaultName,
  MAX_SLOT,
  MECH_STATE_NAME,
  MECHANICS_TIMING_MS,
  type MechanicsState,
  OP,
  PINS,
  POSITION,
  SENSOR,
  UNSOLICITED_SEQ,
} from './protocol.js';

export interface DispenserEvents {
  health: [LinkHealth, string | undefined];
  /** the tray sensor (D2, reported through Firmata digital reporting): a card lies in the tray */
  tray: ['occupied' | 'empty'];
  /** the board's own unsolicited SENSOR event: the citizen took the card */
  taken: [];
  /**
   * the board (re)booted while connected — a watchdog reset, a brown-out — and reported what its
   * card sensors see; whatever the host believed about the mechanics must be checked again
   */
  boot: [CardSensors];
}

export interface DispenserCallOptions {
  signal?: AbortSignal;
  /** time for the board to accept (ACCEPTED or an immediate FAULT); default 1000 ms */
  acceptMs?: number;
  /** time for the move to finish after ACCEPTED; default the move limit (3 s) + 1 s */
  finishMs?: number;
}

/**
 * The card dispenser as the runtime sees it (PROTOCOL.md). Each verb resolves only when the board
 * reports the position reached (DONE); otherwise it rejects with:
 * - `DeviceFault` (`fault` = 'jam' | 'motorTimeout' | 'busy' | 'badArgument' | 'noCard' |
 *   'notAllowed') when the board answers FAULT;
 * - `DeviceTimeout` when ACCEPTED or DONE does not come in time (the mechanics' state is then
 *   unknown: ask `status()`);
 * - `DeviceDisconnected` when the port is gone, the board has not finished its Firmata handshake,
 *   or the link goes away while waiting;
 * - `DeviceCanceled` when the signal fires (the board's move is not stopped by that: the motor
 *   completes or faults on its own, within the board's move time limit of 3 s).
 */
export interface CardDispenser extends EventEmitter<DispenserEvents> {
  readonly health: LinkHealth;
  readonly healthDetail: string | undefined;
  readonly trayOccupied: boolean | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  moveToStation(slot: number, options?: DispenserCallOptions): Promise<void>;
  present(options?: DispenserCallOptions): Promise<void>;
  retract(options?: DispenserCallOptions): Promise<void>;
  returnToSlot(slot: number, options?: DispenserCallOptions): Promise<void>;
  status(options?: DispenserCallOptions): Promise<MechanicsState>;
  /** what the tray (D2) and card-at-station (D9) sensors see now (SENSORS) */
  sensors(options?: DispenserCallOptions): Promise<CardSensors>;
  /** LED ring around the tray, 0–255 (PWM on D3, through a johnny-five Led) */
  setLedRing(brightness: number): void;
}

const Firmata = firmataIo.Firmata;
type Firmata = FirmataBoard;

/** The board's replies, delivered to the driver that owns the board instance. */
const replyHandlers = new WeakMap<Firmata, (reply: DispenserReply | undefined) => void>();
let sysexRegistered = false;

/**
 * firmata-io keeps its sysex handlers in one table shared by every board in the process; it is
 * registered once here and dispatches to the board's own driver.
 */
function registerDispenserSysex(io: Firmata): void {
  if (sysexRegistered) return;
  io.sysexResponse(DISPENSER_SYSEX, function (this: Firmata, data: number[]) {
    replyHandlers.get(this)?.(decodeDispenserReply(data));
  });
  sysexRegistered = true;
}

/** firmata-io's transport over the project's SerialConnection (so reconnects stay in one place). */
class ConnectionTransport extends EventEmitter implements FirmataTransport {
  constructor(private readonly connection: SerialConnection) {
    super();
  }
  write(data: Buffer, callback?: (error?: Error | null) => void): boolean {
    this.connection.write(data).then(
      () => callback?.(),
      (error: Error) => callback?.(error),
    );
    return true;
  }
}

interface Waiter {
  seq: number;
  onReply(reply: DispenserReply): void;
  fail(error: Error): void;
}

export interface JohnnyFiveDispenserOptions {
  path: string;
  baudRate: number;
  retryMs?: number;
  /**
   * how long the Firmata handshake may take before the board counts as not answering and is asked
   * again (each further wait twice as long, up to 30 s)
   */
  handshakeMs?: number;
}

const MAX_HANDSHAKE_WAIT_MS = 30_000;

export class JohnnyFiveDispenser
  extends EventEmitter<DispenserEvents>
  implements CardDispenser, ReopenableSerial
{
  private readonly connection: SerialConnection;
  private transport: ConnectionTransport | undefined;
  private io: Firmata | undefined;
  private board: five.Board | undefined;
  private ring: five.Led | undefined;
  private ready = false;
  private seq = 0;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** handshakes begun since the board last answered one (the wait grows with each) */
  private handshakeAttempts = 0;
  private tray: boolean | undefined;

  constructor(private readonly options: JohnnyFiveDispenserOptions) {
    super();
    this.connection = new SerialConnection({
      device: 'dispenser',
      path: options.path,
      baudRate: options.baudRate,
      ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
    });
    this.connection.on('data', (chunk) => this.transport?.emit('data', chunk));
    this.connection.on('health', (health, detail) => {
      if (health === 'missing') {
        this.detach(new DeviceDisconnected('dispenser', detail ?? 'port lost'));
        this.handshakeAttempts = 0; // a board plugged in again gets the first wait again
      } else if (health === 'ok' && !this.transport) this.attach();
      this.emit('health', this.health, this.healthDetail);
    });
  }

  /** ok only once the board has answered the Firmata handshake. */
  get health(): LinkHealth {
    const link = this.connection.health;
    return link === 'ok' && !this.ready ? 'degraded' : link;
  }

  get healthDetail(): string | undefined {
    return this.connection.health === 'ok' && !this.ready
      ? 'board has not answered the Firmata handshake'
      : this.connection.detail;
  }

  get trayOccupied(): boolean | undefined {
    return this.tray;
  }

  async start(): Promise<void> {
    await this.connection.open();
  }

  async stop(): Promise<void> {
    this.detach(new DeviceCanceled('dispenser', 'driver stopped'));
    await this.connection.close();
  }

  get serialParams(): SerialParams {
    return this.connection.params;
  }

  /** Closes the port and opens it at `params`; the board answers the Firmata handshake again. */
  async reopen(params: SerialParams): Promise<void> {
    await this.stop();
    this.connection.retarget(params);
    await this.start();
  }

  /** A board appeared on the port: start firmata-io and johnny-five on it. */
  private attach(): void {
    const transport = new ConnectionTransport(this.connection);
    this.transport = transport;
    // The board may already be running (no reset on open through a pty or a USB-UART without
    // DTR): ask for the version at once rather than waiting for the one a reset would send.
    const io = new Firmata(transport, { reportVersionTimeout: 1 });
    this.io = io;
    registerDispenserSysex(io);
    replyHandlers.set(io, (reply) => this.onReply(reply));
    io.on('error', () => undefined);
    const waitMs = Math.min(
      (this.options.handshakeMs ?? 5000) * 2 ** this.handshakeAttempts,
      MAX_HANDSHAKE_WAIT_MS,
    );
    this.handshakeAttempts++;
    this.handshakeTimer = setTimeout(() => this.handshakeUnanswered(io, waitMs), waitMs);
    // johnny-five waits for "connect" (firmata-io relays the transport's "open") before "ready".
    process.nextTick(() => transport.emit('open'));
    const board = new five.Board({
      io,
      repl: false,
      debug: false,
      sigint: false,
      timeout: 2_000_000_000,
    } as five.BoardOption);
    this.board = board;
    board.on('error', () => undefined);
    board.on('ready', () => {
      if (this.io !== io) return;
      clearTimeout(this.handshakeTimer);
      this.ring = new five.Led({ pin: PINS.ledRing, board });
      io.pinMode(PINS.traySensor, io.MODES.INPUT);
      io.digitalRead(PINS.traySensor, (value) => {
        if (this.io !== io) return;
        const occupied = value === 1;
        if (occupied === this.tray) return;
        this.tray = occupied;
        this.emit('tray', occupied ? 'occupied' : 'empty');
      });
      this.ready = true;
      this.handshakeAttempts = 0;
      this.emit('health', this.health, this.healthDetail);
    });
  }

  /**
   * No answer to the handshake: a query lost on its way (a board still in its bootloader when the
   * port opened, bytes written before the other end was read) is never sent again by firmata-io,
   * so the board would stay "degraded" for good. Start the handshake again on the same port.
   */
  private handshakeUnanswered(io: Firmata, waitMs: number): void {
    if (this.ready || this.io !== io) return;
    this.emit('health', this.health, `${this.healthDetail} in ${waitMs} ms; asking again`);
    this.detach(new DeviceDisconnected('dispenser', 'no answer to the Firmata handshake'));
    if (this.connection.health === 'ok') this.attach();
  }

  private detach(error: Error): void {
    clearTimeout(this.handshakeTimer);
    this.waiter?.fail(error);
    const io = this.io;
    if (io) {
      replyHandlers.delete(io);
      io.removeAllListeners();
    }
    const board = this.board as unknown as (EventEmitter & { timer?: NodeJS.Timeout }) | undefined;
    // johnny-five's own "board did not get ready" timer would keep the process alive
    clearTimeout(board?.timer);
    board?.removeAllListeners();
    this.transport?.removeAllListeners();
    this.io = undefined;
    this.board = undefined;
    this.ring = undefined;
    this.transport = undefined;
    this.ready = false;
    this.tray = undefined;
  }

  private onReply(reply: DispenserReply | undefined): void {
    if (!reply) return;
    if (reply.event === EVENT.sensor && reply.seq === UNSOLICITED_SEQ) {
      if (reply.code === SENSOR.cardTaken) this.emit('taken');
      return;
    }
    if (reply.event === EVENT.sensors && reply.seq === UNSOLICITED_SEQ) return this.onBoot(reply.code);
    if (this.waiter?.seq === reply.seq) this.waiter.onReply(reply);
  }

  /**
   * The board booted (PROTOCOL.md "Boot"): a reset forgot the Firmata set-up, so the tray sensor's
   * reporting is asked for again, and a command in flight will never be answered.
   */
  private onBoot(code: number): void {
    const io = this.io;
    if (!io || !this.ready) return; // the first boot is the handshake's business
    this.waiter?.fail(new DeviceFault('dispenser', 'reset', 'the board reset during the command'));
    this.tray = undefined;
    io.pinMode(PINS.traySensor, io.MODES.INPUT);
    io.reportDigitalPin(PINS.traySensor, 1);
    this.emit('boot', decodeSensors(code));
  }

  setLedRing(brightness: number): void {
    this.ring?.brightness(Math.max(0, Math.min(255, Math.round(brightness))));
  }

  /** Sends one DISPENSER command and waits for its final reply; commands never overlap. */
  private command(
    op: number,
    arg: number,
    options: DispenserCallOptions,
    step: string,
  ): Promise<DispenserReply> {
    const run = this.queue.then(
      () => this.exchange(op, arg, options, step),
      () => this.exchange(op, arg, options, step),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private exchange(
    op: number,
    arg: number,
    options: DispenserCallOptions,
    step: string,
  ): Promise<DispenserReply> {
    const io = this.io;
    if (!io || !this.ready)
      return Promise.reject(new DeviceDisconnected('dispenser', this.healthDetail ?? 'board not ready'));
    if (options.signal?.aborted) return Promise.reject(new DeviceCanceled('dispenser', `${step} aborted`));
    this.seq = (this.seq + 1) % UNSOLICITED_SEQ; // 0–126; 127 marks unsolicited events
    const seq = this.seq;
    return new Promise<DispenserReply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (ms: number, what: string) => {
        clearTimeout(timer);
        timer = setTimeout(
          () => settle(new DeviceTimeout('dispenser', `${step}: ${what} within ${ms} ms`)),
          ms,
        );
      };
      const settle = (error: Error | undefined, reply?: DispenserReply) => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(reply as DispenserReply);
      };
      const onAbort = () => settle(new DeviceCanceled('dispenser', `${step} aborted`));
      const waiter: Waiter = {
        seq,
        onReply: (reply) => {
          if (reply.event === EVENT.accepted) {
            arm(options.finishMs ?? MECHANICS_TIMING_MS.moveLimit + 1000, 'no DONE or FAULT');
            return;
          }
          if (reply.event === EVENT.fault) {
            const fault: FaultName | undefined = FAULT_NAME[reply.code];
            settle(
              new DeviceFault('dispenser', fault ?? `code ${reply.code}`, `${step}: ${fault ?? reply.code}`),
            );
            return;
          }
          settle(undefined, reply);
        },
        fail: (error) => settle(error),
      };
      this.waiter = waiter;
      options.signal?.addEventListener('abort', onAbort, { once: true });
      arm(options.acceptMs ?? 1000, 'not accepted');
      io.sysexCommand([DISPENSER_SYSEX, op, seq, arg]);
    });
  }

  private async move(op: number, arg: number, expected: number, step: string, options: DispenserCallOptions) {
    const reply = await this.command(op, arg, options, step);
    if (reply.event !== EVENT.done || reply.code !== expected)
      throw new DeviceProtocolError('dispenser', `${step}: unexpected reply`, step, reply.code);
  }

  moveToStation(slot: number, options: DispenserCallOptions = {}): Promise<void> {
    checkSlot(slot);
    return this.move(OP.moveToStation, slot, POSITION.station, 'MOVE_TO_STATION', options);
  }

  present(options: DispenserCallOptions = {}): Promise<void> {
    return this.move(OP.present, 0, POSITION.tray, 'PRESENT', options);
  }

  retract(options: DispenserCallOptions = {}): Promise<void> {
    return this.move(OP.retract, 0, POSITION.captureBin, 'RETRACT', options);
  }

  returnToSlot(slot: number, options: DispenserCallOptions = {}): Promise<void> {
    checkSlot(slot);
    return this.move(OP.returnToSlot, slot, POSITION.slot, 'RETURN_TO_SLOT', options);
  }

  /** A real exchange for health checks and `kiosk doctor`: the STATUS command. */
  async probe(): Promise<void> {
    await this.status();
  }

  async status(options: DispenserCallOptions = {}): Promise<MechanicsState> {
    const reply = await this.command(OP.status, 0, options, 'STATUS');
    const state = MECH_STATE_NAME[reply.code];
    if (reply.event !== EVENT.state || !state)
      throw new DeviceProtocolError('dispenser', 'STATUS: unexpected reply', 'STATUS', reply.code);
    return state;
  }

  async sensors(options: DispenserCallOptions = {}): Promise<CardSensors> {
    const reply = await this.command(OP.sensors, 0, options, 'SENSORS');
    if (reply.event !== EVENT.sensors)
      throw new DeviceProtocolError('dispenser', 'SENSORS: unexpected reply', 'SENSORS', reply.code);
    return decodeSensors(reply.code);
  }
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot > MAX_SLOT)
    throw new RangeError(`slot must be 0–${MAX_SLOT}`);
}

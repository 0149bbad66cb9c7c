import { EventEmitter } from 'node:events';
import type PcscLite from 'pcsclite';
import { SerialPort } from 'serialport';
import { CardTransportError } from '../../src/card/errors.js';
import { type CardTransport } from '../../src/card/transport.js';
import { type ChipEmulator } from './emulator.js';
import { FrameDecoder, encodeFrame } from './protocol.js';

type PcscContext = ReturnType<typeof PcscLite>;
type PcscReader = Parameters<Parameters<PcscContext['on']>[1]>[0] extends infer R
  ? R extends { connect: unknown }
    ? R
    : never
  : never;

export interface CardReaderEvents {
  /** a reader appeared (USB plugged, or pcscd started) */
  reader: [name: string];
  'reader-removed': [name: string];
  'card-inserted': [reader: string, atr: Buffer];
  'card-removed': [reader: string];
  error: [error: CardTransportError];
}

/**
 * PC/SC readers through pcsc-lite (the `pcsclite` package): reader and card insert/remove events,
 * and a `CardTransport` for the card in a reader. Every library error becomes a `CardTransportError`.
 */
export class PcscCardReader extends EventEmitter<CardReaderEvents> {
  private context: PcscContext | undefined;
  private readonly readers = new Map<string, PcscReader>();
  private readonly present = new Set<string>();

  private stopped = false;

  /** Reports a PC/SC error to listeners; with none, or after stop(), it is dropped, never thrown. */
  private report(error: CardTransportError): void {
    if (!this.stopped && this.listenerCount('error') > 0) this.emit('error', error);
  }

  /**
   * Opens the PC/SC context. `pcsclite` is a native optional dependency, loaded only here, so a
   * kiosk without pcsc-lite still starts; without it this rejects with `CardTransportError`.
   */
  async start(): Promise<void> {
    this.stopped = false;
    let pcsclite: typeof PcscLite;
    try {
      pcsclite = (await import('pcsclite')).default;
    } catch (error) {
      throw new CardTransportError(`the pcsclite module is not available: ${describe(error)}`);
    }
    let context: PcscContext;
    try {
      context = pcsclite();
    } catch (error) {
      throw new CardTransportError(`PC/SC: ${describe(error)}`);
    }
    this.context = context;
    context.on('error', (error: unknown) => this.report(new CardTransportError(`PC/SC: ${describe(error)}`)));
    context.on('reader', (reader) => {
      this.readers.set(reader.name, reader as PcscReader);
      this.emit('reader', reader.name);
      reader.on('error', (error: unknown) =>
        this.report(new CardTransportError(`${reader.name}: ${describe(error)}`)),
      );
      reader.on('status', (status) => {
        const isPresent =
          (status.state & reader.SCARD_STATE_PRESENT) !== 0 && (status.state & reader.SCARD_STATE_MUTE) === 0;
        const wasPresent = this.present.has(reader.name);
        if (isPresent && !wasPresent) {
          this.present.add(reader.name);
          this.emit('card-inserted', reader.name, status.atr ?? Buffer.alloc(0));
        } else if (!isPresent && wasPresent) {
          this.present.delete(reader.name);
          this.emit('card-removed', reader.name);
        }
      });
      reader.on('end', () => {
        this.readers.delete(reader.name);
        if (this.present.delete(reader.name)) this.emit('card-removed', reader.name);
        this.emit('reader-removed', reader.name);
      });
    });
  }

  get readerNames(): string[] {
    return [...this.readers.keys()];
  }

  /** Connects to the card in `readerName` (shared mode, T=1 or T=0). */
  connect(readerName: string): Promise<CardTransport> {
    const reader = this.readers.get(readerName);
    if (!reader) return Promise.reject(new CardTransportError(`no reader named ${readerName}`));
    return new Promise((resolve, reject) => {
      reader.connect({ share_mode: reader.SCARD_SHARE_SHARED }, (error: unknown, protocol: number) => {
        if (error) reject(new CardTransportError(`connect: ${describe(error)}`));
        else resolve(new PcscTransport(reader, protocol));
      });
    });
  }

  stop(): void {
    this.stopped = true;
    for (const reader of this.readers.values()) reader.close();
    this.context?.close();
    this.context = undefined;
    this.readers.clear();
    this.present.clear();
  }
}

class PcscTransport implements CardTransport {
  private open = true;
  constructor(
    private readonly reader: PcscReader,
    private readonly protocol: number,
  ) {}

  transmit(command: Uint8Array): Promise<Uint8Array> {
    if (!this.open) return Promise.reject(new CardTransportError('transport closed'));
    return new Promise((resolve, reject) => {
      this.reader.transmit(Buffer.from(command), 65538, this.protocol, (error: unknown, response: Buffer) => {
        if (error) reject(new CardTransportError(`transmit: ${describe(error)}`));
        else resolve(response);
      });
    });
  }

  close(): Promise<void> {
    if (!this.open) return Promise.resolve();
    this.open = false;
    return new Promise((resolve) => this.reader.disconnect(this.reader.SCARD_LEAVE_CARD, () => resolve()));
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The terminal's end of a pty link to the chip emulator (framing in protocol.ts). One command at
 * a time; a response that does not come within `timeoutMs` is a `CardTransportError`.
 */
export class PtyCardTransport implements CardTransport {
  private readonly decoder = new FrameDecoder();
  private pending:
    { resolve: (b: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;

  private constructor(
    private readonly port: SerialPort,
    private readonly timeoutMs: number,
  ) {
    port.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = this.decoder.push(chunk);
      } catch (error) {
        this.fail(new CardTransportError(`bad frame from the chip: ${describe(error)}`));
        return;
      }
      for (const frame of frames) {
        const waiting = this.pending;
        this.pending = undefined;
        if (waiting) {
          clearTimeout(waiting.timer);
          waiting.resolve(frame);
        }
      }
    });
    port.on('close', () => this.fail(new CardTransportError('the pty link closed')));
    port.on('error', (error) => this.fail(new CardTransportError(`pty link: ${error.message}`)));
  }

  static open(path: string, timeoutMs = 5000): Promise<PtyCardTransport> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      port.open((error) =>
        error
          ? reject(new CardTransportError(`open ${path}: ${error.message}`))
          : resolve(new PtyCardTransport(port, timeoutMs)),
      );
    });
  }

  private fail(error: CardTransportError): void {
    const waiting = this.pending;
    this.pending = undefined;
    if (waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.pending) return Promise.reject(new CardTransportError('a command is already in flight'));
    if (!this.port.isOpen) return Promise.reject(new CardTransportError('the pty link is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new CardTransportError(`no answer in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      this.pending = { resolve, reject, timer };
      this.port.write(encodeFrame(command), (error) => {
        if (error) this.fail(new CardTransportError(`write: ${error.message}`));
      });
    });
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

/** The chip's end of the pty link: answers every framed command with the emulator. */
export class PtyChipServer {
  private readonly decoder = new FrameDecoder();
  private constructor(private readonly port: SerialPort) {}

  static open(path: string, chip: Pick<ChipEmulator, 'process'>): Promise<PtyChipServer> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      port.open((error) => {
        if (error) return reject(new CardTransportError(`open ${path}: ${error.message}`));
        const server = new PtyChipServer(port);
        port.on('error', () => port.close()); // the terminal side went away: nothing to answer
        port.on('data', (chunk: Buffer) => {
          let frames: Buffer[];
          try {
            frames = server.decoder.push(chunk);
          } catch {
            return; // a bad frame from the terminal: drop it, the terminal times out
          }
          for (const frame of frames) port.write(encodeFrame(chip.process(frame)));
        });
        resolve(server);
      });
    });
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

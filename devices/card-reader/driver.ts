import { EventEmitter } from 'node:events';
import type PcscLite from 'pcsclite';
import { CardTransportError } from '../../src/card/errors.js';
import { type CardTransport } from '../../src/card/transport.js';

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

import { EmulatorPort } from '../transport/emulator-port.js';
import { sleepUntil, WireClock } from '../transport/wire-clock.js';
import {
  EscPosDecoder,
  encodeStatus,
  type PrintedReceipt,
  type PrinterStatus,
  ReceiptAssembler,
} from './protocol.js';

/**
 * An ESC/POS receipt printer on the emulator end of a pty. It decodes what it receives into
 * receipts (text lines with their style, QR payloads, cuts) so tests can assert a receipt's
 * content, answers DLE EOT real-time status at once (as printers do, even off-line) and can be set
 * to paper-out or cover-open — then it is off-line and prints nothing.
 */
export class PrinterEmulator {
  private readonly port: EmulatorPort;
  private readonly decoder = new EscPosDecoder();
  private readonly assembler = new ReceiptAssembler();
  private readonly clock: WireClock;
  readonly receipts: PrintedReceipt[] = [];
  readonly status: PrinterStatus = { coverOpen: false, paperOut: false, paperNearEnd: false };
  /** a printer that stopped answering (for timeout tests) */
  silent = false;

  constructor(private readonly options: { path: string; baudRate?: number }) {
    this.clock = new WireClock(options.baudRate ?? 9600);
    this.port = new EmulatorPort(options.path, (chunk) => this.receive(chunk));
  }

  async start(): Promise<void> {
    this.clock.reset();
    await this.port.open(this.options.baudRate ?? 9600);
  }

  async stop(): Promise<void> {
    await this.port.close();
  }

  setStatus(change: Partial<PrinterStatus>): void {
    Object.assign(this.status, change);
  }

  private receive(chunk: Buffer): void {
    const arrivedAt = this.clock.arrive(chunk.length);
    const commands = this.decoder.push(chunk);
    const offline = this.status.coverOpen || this.status.paperOut;
    for (const command of commands) {
      if (command.kind !== 'status-request') continue;
      const n = command.n === 1 || command.n === 2 || command.n === 4 ? command.n : undefined;
      if (n === undefined || this.silent) continue;
      const byte = encodeStatus(n, this.status);
      void sleepUntil(this.clock.departure(1, arrivedAt)).then(() => this.port.write(Buffer.of(byte)));
    }
    if (!offline) this.receipts.push(...this.assembler.apply(commands));
  }
}

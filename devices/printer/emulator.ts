import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmulatorPort } from '../transport/emulator-port.js';
import { sleepUntil, WireClock } from '../transport/wire-clock.js';
import { ReceiptAssembler, type PrintedReceipt } from './paper.js';
import { PRINTER_PROFILES, type PrinterProfile } from './profiles.js';
import {
  EscPosDecoder,
  type EscPosCommand,
  encodePaperSensorStatus,
  encodeStatus,
  type PrinterStatus,
} from './protocol.js';
import { renderReceipt } from './render.js';

export interface PrinterEmulatorOptions {
  path: string;
  baudRate?: number;
  /** the model it behaves as (code tables, composing of marks, Kanji mode at power-on) */
  profile?: PrinterProfile;
  /** where each receipt's PNG goes (`receipt-<n>.png` and `last-receipt.png`); none when unset */
  pngDir?: string;
}

/**
 * An ESC/POS receipt printer on the emulator end of a pty, per the Epson command reference: every
 * command is taken by its real length (parameters are never printed), characters keep their own
 * style, receipts are decoded for tests and drawn as PNGs. It answers DLE EOT n (n = 1–4) at
 * once, even off-line (real-time), and GS r n / GS I n in sequence after what came before them;
 * paper-out or cover-open puts it off-line: it prints nothing and answers only DLE EOT.
 */
export class PrinterEmulator {
  private readonly port: EmulatorPort;
  private readonly decoder = new EscPosDecoder();
  private readonly assembler: ReceiptAssembler;
  private readonly clock: WireClock;
  readonly profile: PrinterProfile;
  readonly receipts: PrintedReceipt[] = [];
  /** the PNG of the last receipt, once written */
  lastPng: string | undefined;
  readonly status: PrinterStatus = { coverOpen: false, paperOut: false, paperNearEnd: false };
  /** a printer that stopped answering (for timeout tests) */
  silent = false;
  private rendering: Promise<void> = Promise.resolve();
  private paperLeft: number | undefined;

  constructor(private readonly options: PrinterEmulatorOptions) {
    this.profile = options.profile ?? PRINTER_PROFILES['epson-wpc1258'];
    this.assembler = new ReceiptAssembler(this.profile);
    this.clock = new WireClock(options.baudRate ?? 9600);
    this.port = new EmulatorPort(options.path, (chunk) => this.receive(chunk));
  }

  async start(): Promise<void> {
    this.clock.reset();
    await this.port.open(this.options.baudRate ?? 9600);
  }

  async stop(): Promise<void> {
    await this.port.close();
    await this.rendering;
  }

  /** The roll ends after `bytes` more bytes of print data: the rest is not printed (off-line). */
  runOutOfPaperAfter(bytes: number): void {
    this.paperLeft = bytes;
  }

  setStatus(change: Partial<PrinterStatus>): void {
    Object.assign(this.status, change);
  }

  /** Resolves when every PNG of the receipts printed so far is on disk. */
  async rendered(): Promise<void> {
    await this.rendering;
  }

  private receive(chunk: Buffer): void {
    const arrivedAt = this.clock.arrive(chunk.length);
    if (this.paperLeft !== undefined) {
      this.paperLeft -= chunk.length;
      if (this.paperLeft < 0) {
        this.paperLeft = undefined;
        this.status.paperOut = true;
      }
    }
    const commands = this.decoder.push(chunk);
    const offline = this.status.coverOpen || this.status.paperOut;
    for (const command of commands) {
      // DLE EOT is real-time (answered even off-line); GS r / GS I wait their turn in the buffer,
      // which an off-line printer does not process
      if (offline && command.kind === 'gs') continue;
      const answer = this.answer(command);
      if (answer === undefined || this.silent) continue;
      void sleepUntil(this.clock.departure(answer.length, arrivedAt)).then(() => this.port.write(answer));
    }
    if (offline) return;
    for (const receipt of this.assembler.apply(commands)) {
      this.receipts.push(receipt);
      this.rendering = this.rendering.then(() => this.writePng(receipt, this.receipts.length));
    }
  }

  /** The real-time and transmit-status answers of the reference. */
  private answer(command: EscPosCommand): Buffer | undefined {
    const n = command.kind === 'dle' || command.kind === 'gs' ? (command.params[0] ?? 0) : 0;
    if (command.kind === 'dle' && command.code === 0x04 && n >= 1 && n <= 4)
      return Buffer.of(encodeStatus(n as 1 | 2 | 3 | 4, this.status));
    if (command.kind !== 'gs') return undefined;
    if (command.code === 0x72 && (n === 1 || n === 49))
      return Buffer.of(encodePaperSensorStatus(this.status));
    if (command.code === 0x72 && (n === 2 || n === 50)) return Buffer.of(0x00); // drawer pin 3 low
    if (command.code === 0x49 && (n === 1 || n === 49)) return Buffer.of(0x20); // printer model ID
    if (command.code === 0x49 && (n === 2 || n === 50)) return Buffer.of(0x02); // type ID: autocutter
    if (command.code === 0x49 && (n === 3 || n === 51)) return Buffer.of(0x10); // ROM version ID
    return undefined;
  }

  private async writePng(receipt: PrintedReceipt, index: number): Promise<void> {
    const dir = this.options.pngDir;
    if (!dir) return;
    const png = renderReceipt(receipt, this.profile.paperDots);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `receipt-${index}.png`), png);
    await writeFile(join(dir, 'last-receipt.png'), png);
    this.lastPng = join(dir, 'last-receipt.png');
  }
}

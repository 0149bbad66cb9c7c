import type { EventEmitter } from 'node:events';
import { DeviceFault, DeviceTimeout } from '../transport/errors.js';
import type { RequestOptions } from '../transport/request.js';
import { type SerialDeviceOptions, SerialRequestDevice } from '../transport/request-device.js';
import type { LinkHealth } from '../transport/serial.js';
import { WireClock } from '../transport/wire-clock.js';
import { type PrinterProfile } from './profiles.js';
import {
  DEFAULT_PROFILE,
  decodeStatus,
  encodeReceipt,
  type PrinterStatus,
  type Receipt,
  StatusDecoder,
  type StatusFrame,
  statusRequest,
  transmitPaperSensorStatus,
} from './protocol.js';

interface PrinterEvents {
  health: [LinkHealth, string | undefined];
}

/**
 * The receipt printer as the runtime sees it.
 * - `status()` asks DLE EOT 2 and 4; `DeviceTimeout` if it does not answer, `DeviceDisconnected`
 *   when the port is gone, `DeviceCanceled` on the signal.
 * - `print()` checks the status first and refuses with `DeviceFault` (`fault` = 'paper-out' or
 *   'cover-open') rather than sending a receipt into an off-line printer; after sending it asks
 *   the status again, so a printer that ran out of paper mid-receipt is reported too. It resolves
 *   with a `PrintConfirmation` only once that status answer says the printer is on-line with
 *   paper: a screen may say "printed" on that, and on nothing less.
 * - The receipt is encoded for the printer's model (`profile`: code page, raster fallback).
 */
export interface ReceiptPrinter extends EventEmitter<PrinterEvents> {
  readonly health: LinkHealth;
  readonly healthDetail: string | undefined;
  /** the model's profile: code page, paper width in columns */
  readonly profile: PrinterProfile;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(options?: RequestOptions): Promise<PrinterStatus>;
  print(receipt: Receipt, options?: RequestOptions): Promise<PrintConfirmation>;
}

/** The printer's own word, asked after the receipt's last byte, that it printed. */
export interface PrintConfirmation {
  confirmed: true;
  /** the status answer that confirmed it (near-end is worth a maintenance alert) */
  status: PrinterStatus;
  bytes: number;
}

export interface SerialPrinterOptions extends SerialDeviceOptions {
  profile?: PrinterProfile;
  /** what the mechanics may take after the receipt's last byte (feed, cut); default 3000 ms */
  printingMs?: number;
}

export class SerialReceiptPrinter extends SerialRequestDevice<StatusFrame> implements ReceiptPrinter {
  readonly profile: PrinterProfile;

  constructor(private readonly options: SerialPrinterOptions) {
    super('printer', options, () => new StatusDecoder(), 1000);
    this.profile = options.profile ?? DEFAULT_PROFILE;
  }

  private statusByte(n: 2 | 4, options?: RequestOptions): Promise<number> {
    return this.channel.request(
      statusRequest(n),
      (frame) => (frame.kind === 'status' ? frame.byte : undefined),
      options,
    );
  }

  async status(options?: RequestOptions): Promise<PrinterStatus> {
    const offline = await this.statusByte(2, options);
    const paper = await this.statusByte(4, options);
    return decodeStatus(offline, paper);
  }

  /** A real exchange for health checks and `kiosk doctor`: DLE EOT status. */
  async probe(): Promise<void> {
    await this.status();
  }

  async print(receipt: Receipt, options?: RequestOptions): Promise<PrintConfirmation> {
    const bytes = encodeReceipt(receipt, this.profile);
    assertPrintable(await this.status(options));
    const timeoutMs =
      (options?.timeoutMs ?? 1000) +
      wireMs(bytes.length, this.serialParams.baudRate) +
      (this.options.printingMs ?? PRINTING_MS);
    try {
      // GS r 1 is not a real-time command: the printer answers it only after it has processed
      // everything before it, that is, printed the receipt. (DLE EOT would be answered at once,
      // ahead of the print buffer, and prove nothing.)
      await this.channel.request(
        [bytes, transmitPaperSensorStatus()],
        (frame) => (frame.kind === 'paper-sensor' ? frame.byte : undefined),
        { ...options, timeoutMs },
      );
    } catch (error) {
      // an off-line printer holds its buffer and never answers: say why, if it can tell
      if (error instanceof DeviceTimeout) assertPrintable(await this.status(options));
      throw error;
    }
    const after = await this.status(options);
    assertPrintable(after);
    return { confirmed: true, status: after, bytes: bytes.length };
  }
}

/** What a receipt's mechanics may take after its last byte arrived (feed, cut): 80 mm at ≥ 50 mm/s. */
const PRINTING_MS = 3000;

function wireMs(bytes: number, baudRate: number): number {
  return Math.ceil(WireClock.wireMs(bytes, baudRate));
}

function assertPrintable(status: PrinterStatus): void {
  if (status.paperOut) throw new DeviceFault('printer', 'paper-out', 'out of paper');
  if (status.coverOpen) throw new DeviceFault('printer', 'cover-open', 'cover open');
}

import { EventEmitter } from 'node:events';
import {
  type LinkHealth,
  type ReopenableSerial,
  SerialConnection,
  type SerialParams,
} from '../transport/serial.js';
import { type ScanDecodeError, ScanDecoder } from './protocol.js';

interface ScannerEvents {
  /** a complete scan; the text may hold PII (a CCCD QR payload): never log it */
  scan: [string];
  /** a frame that could not be decoded; safe to log (lengths and reasons only) */
  rejected: [ScanDecodeError];
  health: [LinkHealth, string | undefined];
}

/**
 * A QR / barcode scanner as the runtime sees it. Scanning is unsolicited, so there is no request
 * to cancel or time out: while the port is `missing` no scans arrive, and `health` says so.
 */
export interface Scanner extends EventEmitter<ScannerEvents> {
  readonly health: LinkHealth;
  readonly healthDetail: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class SerialScanner extends EventEmitter<ScannerEvents> implements Scanner, ReopenableSerial {
  private readonly connection: SerialConnection;
  private decoder = new ScanDecoder();

  constructor(options: { path: string; baudRate: number; retryMs?: number }) {
    super();
    this.connection = new SerialConnection({ device: 'scanner', ...options });
    this.connection.on('data', (chunk) => {
      for (const frame of this.decoder.push(chunk)) {
        if (frame.kind === 'scan') this.emit('scan', frame.text);
        else this.emit('rejected', frame.error);
      }
    });
    this.connection.on('health', (health, detail) => {
      // A half-received scan from before an unplug must not be glued to the next one.
      if (health !== 'ok') this.decoder = new ScanDecoder();
      this.emit('health', health, detail);
    });
  }

  get health(): LinkHealth {
    return this.connection.health;
  }

  get healthDetail(): string | undefined {
    return this.connection.detail;
  }

  start(): Promise<void> {
    return this.connection.open();
  }

  stop(): Promise<void> {
    return this.connection.close();
  }

  get serialParams(): SerialParams {
    return this.connection.params;
  }

  async reopen(params: SerialParams): Promise<void> {
    await this.stop();
    this.connection.retarget(params);
    await this.start();
  }
}

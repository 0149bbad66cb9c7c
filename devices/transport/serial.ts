import { EventEmitter } from 'node:events';
import { createSerialPort, type SerialPortHandle } from './serial-port.js';
import { DeviceDisconnected } from './errors.js';

export type LinkHealth = 'ok' | 'degraded' | 'missing';

export interface SerialConnectionOptions {
  /** the device's name in logs and errors */
  device: string;
  path: string;
  baudRate: number;
  /** wait between attempts to open a missing port */
  retryMs?: number;
  onLog?: (level: 'info' | 'warn' | 'debug', message: string, detail?: Record<string, unknown>) => void;
}

/** Where a serial device is opened: what a pushed device setting changes (live config). */
export interface SerialParams {
  path: string;
  baudRate: number;
}

/** A serial driver that can be reopened elsewhere or at another speed without being rebuilt. */
export interface ReopenableSerial {
  /** the path and speed of the port it opens (the effective device setting) */
  readonly serialParams: SerialParams;
  /** closes the port, and opens it again at `params` (the driver's listeners stay attached) */
  reopen(params: SerialParams): Promise<void>;
}

export function isReopenableSerial(device: unknown): device is ReopenableSerial {
  return typeof (device as Partial<ReopenableSerial> | null)?.reopen === 'function';
}

interface SerialConnectionEvents {
  data: [Buffer];
  health: [LinkHealth, string | undefined];
}

/**
 * A serial port that is expected to come and go: it opens the path (a stable udev name is best),
 * reports `missing` when the device disappears (ENOENT, EIO, close) and reopens it when it returns,
 * without the runtime restarting. Drivers write through it and read its `data` events.
 */
export class SerialConnection extends EventEmitter<SerialConnectionEvents> {
  private port: SerialPortHandle | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = true;
  private current: LinkHealth = 'missing';
  private reason: string | undefined = 'not opened yet';

  constructor(readonly options: SerialConnectionOptions) {
    super();
  }

  get health(): LinkHealth {
    return this.current;
  }

  get detail(): string | undefined {
    return this.reason;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  /** The path and speed the port is opened at. */
  get params(): SerialParams {
    return { path: this.options.path, baudRate: this.options.baudRate };
  }

  /**
   * Where the next open goes (a pushed device setting). Only while closed: the driver closes the
   * connection first, so a port is never half at the old speed and half at the new one.
   */
  retarget(params: SerialParams): void {
    if (!this.closed) throw new Error(`${this.options.device}: retarget while open`);
    this.options.path = params.path;
    this.options.baudRate = params.baudRate;
  }

  /** Starts opening; resolves after the first attempt, whether or not the device was there. */
  async open(): Promise<void> {
    this.closed = false;
    await this.tryOpen();
  }

  private async tryOpen(): Promise<void> {
    if (this.closed || this.port) return;
    const { path, baudRate } = this.options;
    const port = createSerialPort({ path, baudRate });
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      this.setHealth('missing', describeOpenError(error));
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      port.close();
      return;
    }
    this.port = port;
    port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    port.on('error', (error) => this.lost(port, describeOpenError(error)));
    port.on('close', () => this.lost(port, 'port closed'));
    this.setHealth('ok', undefined);
    this.options.onLog?.('info', 'serial port open', { device: this.options.device, path });
  }

  private lost(port: SerialPortHandle, why: string): void {
    if (this.port !== port) return;
    this.port = undefined;
    if (port.isOpen) port.close(() => undefined);
    if (this.closed) return;
    this.setHealth('missing', why);
    this.options.onLog?.('warn', 'serial port lost', { device: this.options.device, why });
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.tryOpen();
    }, this.options.retryMs ?? 500);
  }

  private setHealth(health: LinkHealth, reason: string | undefined): void {
    const changed = health !== this.current || reason !== this.reason;
    this.current = health;
    this.reason = reason;
    if (changed) this.emit('health', health, reason);
  }

  /** Writes and waits for the bytes to leave (tcdrain); throws DeviceDisconnected when the port is gone. */
  async write(data: Buffer): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) throw new DeviceDisconnected(this.options.device, this.reason ?? 'port not open');
    await new Promise<void>((resolve, reject) => {
      port.write(data, (error) => {
        if (error)
          return reject(new DeviceDisconnected(this.options.device, error.message, { cause: error }));
        port.drain((drainError) =>
          drainError
            ? reject(new DeviceDisconnected(this.options.device, drainError.message, { cause: drainError }))
            : resolve(),
        );
      });
    });
  }

  /**
   * Drivers that talk request/response tell the connection whether the device answers: an open
   * port whose device stays silent is `degraded`, not `ok` (a pty with no emulator, a powered-off
   * sensor behind a USB adapter). Only meaningful while the port is open.
   */
  reportResponsive(responsive: boolean, reason?: string): void {
    if (!this.port?.isOpen) return;
    if (responsive) this.setHealth('ok', undefined);
    else this.setHealth('degraded', reason ?? 'device does not answer');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    this.setHealth('missing', 'closed');
  }
}

function describeOpenError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = (error as Error).message ?? String(error);
  if (code === 'ENOENT' || /ENOENT|No such file/.test(message)) return 'no device at the path (ENOENT)';
  if (/EIO/.test(message)) return 'device I/O error (EIO)';
  if (/EACCES|Permission denied/.test(message))
    return 'permission denied (is the user in the dialout group?)';
  return message;
}

import { createSerialPort, type SerialPortHandle } from '../transport/serial-port.js';
import { encodeScan } from './protocol.js';

/**
 * The scanner's side of the wire: opens the emulator end of a pty with serialport and sends
 * scans as a USB-CDC scanner in CR-suffix mode does.
 */
export class ScannerEmulator {
  private port: SerialPortHandle | undefined;

  constructor(private readonly options: { path: string; baudRate?: number }) {}

  async start(): Promise<void> {
    const port = createSerialPort({ path: this.options.path, baudRate: this.options.baudRate ?? 9600 });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    port.on('error', () => undefined); // the pair may be torn down under us (unplug tests)
    this.port = port;
  }

  /** Sends one scan; `raw` bytes (garbage, partial frames) are sent as they are. */
  async scan(text: string): Promise<void> {
    await this.send(encodeScan(text));
  }

  async send(raw: Buffer): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) throw new Error('scanner emulator is not running');
    await new Promise<void>((resolve, reject) =>
      port.write(raw, (error) => (error ? reject(error) : port.drain((e) => (e ? reject(e) : resolve())))),
    );
  }

  async stop(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

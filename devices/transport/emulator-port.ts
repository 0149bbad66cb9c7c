import { createSerialPort, type SerialPortHandle } from './serial-port.js';
import { wireTapFor } from './wire-clock.js';

/**
 * The emulator's end of a pty, opened with the same serialport as the drivers. `stop()` closes it
 * (the device "powers off"); closing the pty pair itself is the unplug.
 */
export class EmulatorPort {
  private port: SerialPortHandle | undefined;

  constructor(
    private readonly path: string,
    private readonly onData: (chunk: Buffer) => void,
  ) {}

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  async open(baudRate: number): Promise<void> {
    const port = createSerialPort({ path: this.path, baudRate });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    port.on('error', () => undefined); // the pair may be torn down under us (unplug tests)
    port.on('data', (chunk: Buffer) => {
      wireTapFor(this.path)?.({ direction: 'rx', at: performance.now(), bytes: chunk });
      this.onData(chunk);
    });
    this.port = port;
  }

  /** Writes; silently drops the bytes when the port is gone (a device talking to an unplugged cable). */
  async write(bytes: Buffer): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) return;
    wireTapFor(this.path)?.({ direction: 'tx', at: performance.now(), bytes });
    await new Promise<void>((resolve) =>
      port.write(bytes, (error) => (error ? resolve() : port.drain(() => resolve()))),
    );
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

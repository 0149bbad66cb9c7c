import { EventEmitter } from 'node:events';
import { type FrameDecoder, RequestChannel } from './request.js';
import { type LinkHealth, type ReopenableSerial, SerialConnection, type SerialParams } from './serial.js';

export interface SerialDeviceOptions {
  path: string;
  baudRate: number;
  retryMs?: number;
  timeoutMs?: number;
}

/**
 * What every request/response serial driver shares: a SerialConnection that reconnects, a
 * RequestChannel on it, and the health the device manager watches.
 */
export abstract class SerialRequestDevice<F>
  extends EventEmitter<{
    health: [LinkHealth, string | undefined];
  }>
  implements ReopenableSerial
{
  protected readonly connection: SerialConnection;
  protected readonly channel: RequestChannel<F>;

  constructor(
    device: string,
    options: SerialDeviceOptions,
    makeDecoder: () => FrameDecoder<F>,
    defaultTimeoutMs: number,
  ) {
    super();
    this.connection = new SerialConnection({
      device,
      path: options.path,
      baudRate: options.baudRate,
      ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
    });
    this.channel = new RequestChannel(this.connection, makeDecoder, {
      defaultTimeoutMs: options.timeoutMs ?? defaultTimeoutMs,
    });
    this.connection.on('health', (health, detail) => this.emit('health', health, detail));
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

  async stop(): Promise<void> {
    this.channel.cancel();
    await this.connection.close();
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

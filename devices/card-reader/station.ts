import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { LinkHealth } from '../transport/serial.js';
import type { CardTransport } from '../../src/card/transport.js';
import { PtyCardTransport } from './driver.js';

/**
 * The chip station's serial link as a managed device (health for the device manager, `kiosk
 * doctor` and the session's out-of-service rule). A read opens its own transport per card
 * (`open()`); the probe is a real open and close of the port.
 */
export class SerialChipStation extends EventEmitter<{ health: [LinkHealth, string | undefined] }> {
  private state: LinkHealth = 'missing';
  private detail: string | undefined = 'not started';
  private inUse = 0;

  constructor(readonly path: string) {
    super();
  }

  get health(): LinkHealth {
    return this.state;
  }

  get healthDetail(): string | undefined {
    return this.detail;
  }

  /** A transport for one card read; the probe leaves the port alone while one is open. */
  async open(): Promise<CardTransport> {
    const transport = await PtyCardTransport.open(this.path);
    this.inUse++;
    let closed = false;
    return {
      transmit: (command) => transport.transmit(command),
      close: async () => {
        if (!closed) this.inUse--;
        closed = true;
        await transport.close();
      },
    };
  }

  async start(): Promise<void> {
    await this.probe().catch(() => undefined);
  }

  async stop(): Promise<void> {}

  async probe(): Promise<void> {
    try {
      if (!existsSync(this.path)) throw new Error(`${this.path} does not exist`);
      if (this.inUse === 0) {
        const transport = await PtyCardTransport.open(this.path);
        await transport.close();
      }
      this.set('ok', undefined);
    } catch (error) {
      this.set('missing', (error as Error).message);
      throw error;
    }
  }

  private set(state: LinkHealth, detail: string | undefined): void {
    const changed = state !== this.state;
    this.state = state;
    this.detail = detail;
    if (changed) this.emit('health', state, detail);
  }
}

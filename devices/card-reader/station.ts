import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { LinkHealth } from '../transport/serial.js';
import type { CardTransport } from '../../src/card/transport.js';
import { PtyCardTransport } from './driver.js';

/**
 * The chip station's serial link as a managed device (health for the device manager, `kiosk
 * doctor` and the session's out-of-service rule). A read opens its own transport per card
 * (`open()`); with no card at the station there is nothing to exchange, so the probe checks the
 * device node is there.
 */
export class SerialChipStation extends EventEmitter<{ health: [LinkHealth, string | undefined] }> {
  private state: LinkHealth = 'missing';
  private detail: string | undefined = 'not started';

  constructor(readonly path: string) {
    super();
  }

  get health(): LinkHealth {
    return this.state;
  }

  get healthDetail(): string | undefined {
    return this.detail;
  }

  /** A transport for one card read. */
  open(): Promise<CardTransport> {
    return PtyCardTransport.open(this.path);
  }

  async start(): Promise<void> {
    await this.probe().catch(() => undefined);
  }

  async stop(): Promise<void> {}

  async probe(): Promise<void> {
    try {
      // No card, no exchange: the probe checks the link is there; each read opens the port itself.
      if (!existsSync(this.path)) throw new Error(`${this.path} does not exist`);
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

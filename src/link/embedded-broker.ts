import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';

/**
 * The demo's MQTT broker: aedes (MQTT 3.1.1) on loopback. Tries the preferred port and falls back
 * to a free one when it is taken, so `npm start` works beside a system Mosquitto.
 */
export class EmbeddedBroker implements Service {
  readonly name = 'broker';
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly options: { host?: string; preferredPort?: number; log: Logger }) {}

  get url(): string {
    return `mqtt://${this.options.host ?? '127.0.0.1'}:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker({ heartbeatInterval: 60_000 });
    broker.on('clientError', (client, error) =>
      this.options.log.debug({ client: client.id, err: error.message }, 'broker: client error'),
    );
    const server = createServer(broker.handle);
    const host = this.options.host ?? '127.0.0.1';
    try {
      await listen(server, this.options.preferredPort ?? 0, host);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      this.options.log.info(
        { port: this.options.preferredPort },
        'broker: preferred port taken; using a free one',
      );
      await listen(server, 0, host);
    }
    this.broker = broker;
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const { server, broker } = this;
    this.server = undefined;
    this.broker = undefined;
    if (server) {
      server.close();
      // connected clients keep the server open; aedes closes them
    }
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }

  health(): Health {
    return this.server?.listening ? { state: 'up', detail: this.url } : { state: 'down' };
  }
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
}

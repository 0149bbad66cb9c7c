import { inject } from 'vitest';
import { EmbeddedBroker } from '../../src/link/embedded-broker.js';
import { quietLogger } from './logs.js';

/** The two brokers every link test runs against: aedes speaking 3.1.1 and Mosquitto speaking 5. */
export interface BrokerUnderTest {
  name: string;
  protocolVersion: 4 | 5;
  start(): Promise<{ url: string; stop(): Promise<void> }>;
}

export const brokers: BrokerUnderTest[] = [
  {
    name: 'embedded aedes, MQTT 3.1.1',
    protocolVersion: 4,
    async start() {
      const broker = new EmbeddedBroker({ preferredPort: 0, log: quietLogger() });
      await broker.start();
      return { url: broker.url, stop: () => broker.stop() };
    },
  },
  {
    name: 'Mosquitto, MQTT 5',
    protocolVersion: 5,
    async start() {
      return { url: inject('mosquittoUrl'), stop: async () => undefined };
    },
  },
];

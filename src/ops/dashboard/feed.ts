/**
 * The dashboard's MQTT side: one long-lived client that reads every kiosk's retained status and
 * its telemetry into the FleetModel, and the answers to what operators did (`cmd/result`,
 * `config.result` events) into the ActivityLog. Invalid payloads are counted and dropped: a
 * kiosk publishing garbage must not take the operations view down.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  decodeMessage,
  decodeOneOf,
  InvalidMessage,
  type MessageBody,
  type StatusBody,
  type TelemetryBody,
} from '../../link/messages.js';
import { parseKioskTopic, TOPIC_ROOT, topics } from '../../link/topics.js';
import type { Logger } from '../../util/log.js';
import type { ActivityLog } from './activity.js';
import type { FleetModel } from './fleet-model.js';

export interface BrokerConnection {
  url: string;
  ca?: string;
  cert?: string;
  key?: string;
  connectTimeoutMs?: number;
}

/** Topics the dashboard reads (telemetry is not retained: it fills in as kiosks send it). */
export const FEED_TOPICS = [
  topics.allStatuses(),
  `${TOPIC_ROOT}/kiosk/+/telemetry`,
  `${TOPIC_ROOT}/kiosk/+/cmd/result`,
  topics.allEvents(),
];

/** The first connection to the broker failed (refused, timed out, TLS): the dashboard cannot start. */
export class BrokerUnreachable extends Error {
  override readonly name = 'BrokerUnreachable';
}

export class FleetFeed {
  private client: MqttClient | undefined;
  readonly counts = { status: 0, telemetry: 0, invalid: 0 };

  constructor(
    private readonly broker: BrokerConnection,
    private readonly model: FleetModel,
    private readonly activity: ActivityLog,
    private readonly log: Logger,
  ) {}

  get mqtt(): MqttClient {
    if (!this.client) throw new Error('the fleet feed is not connected');
    return this.client;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects (rejects if the first connection fails), then keeps reconnecting on its own. */
  async start(): Promise<void> {
    const options: IClientOptions = {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: this.broker.connectTimeoutMs ?? 10_000,
      clientId: `kiosk-ops-serve-${process.pid}-${Date.now().toString(36)}`,
      ...(this.broker.ca ? { ca: this.broker.ca } : {}),
      ...(this.broker.cert ? { cert: this.broker.cert } : {}),
      ...(this.broker.key ? { key: this.broker.key } : {}),
    };
    const client = mqtt.connect(this.broker.url, options);
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'ops dashboard: broker error'));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('no connection to the broker')));
    }).catch((error: unknown) => {
      client.end(true);
      const code = (error as { code?: unknown }).code;
      throw new BrokerUnreachable(typeof code === 'string' ? code : (error as Error).message.split('\n')[0]);
    });
    // subscribed on every (re)connect: a clean session forgets subscriptions
    client.on('connect', () => void this.subscribe().catch(() => undefined));
    await this.subscribe();
  }

  private async subscribe(): Promise<void> {
    await this.mqtt.subscribeAsync(FEED_TOPICS, { qos: 1 });
  }

  async publish(topic: string, payload: string, retain: boolean): Promise<void> {
    await this.mqtt.publishAsync(topic, payload, { qos: 1, retain });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseKioskTopic(topic);
    if (!parsed) return;
    try {
      if (parsed.leaf === 'status') {
        if (payload.length === 0) return this.model.remove(parsed.kioskId);
        const message = decodeMessage(payload, 'kiosk.status');
        this.counts.status++;
        this.model.applyStatus(parsed.kioskId, message.body satisfies StatusBody, message.ts);
      } else if (parsed.leaf === 'telemetry') {
        const message = decodeMessage(payload, 'kiosk.telemetry');
        this.counts.telemetry++;
        this.model.applyTelemetry(parsed.kioskId, message.body satisfies TelemetryBody, message.ts);
      } else if (parsed.leaf === 'cmd/result') {
        const message = decodeMessage(payload, 'command.result');
        if (message.correlationId) this.activity.commandAnswered(message.correlationId, message.body);
      } else if (parsed.leaf === 'events') this.onEvent(parsed.kioskId, payload);
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.counts.invalid++;
    }
  }

  private onEvent(kioskId: string, payload: Buffer): void {
    // the events topic carries every event type: config results and software rollbacks matter here
    if (payload.includes('"software.rolledBack"')) {
      const message = decodeOneOf(payload, ['software.rolledBack']);
      this.activity.softwareRolledBack(kioskId, message.id, message.body);
      return;
    }
    if (!payload.includes('"config.result"')) return;
    const message = decodeOneOf(payload, ['config.result']);
    this.activity.configAnswered(kioskId, message.body satisfies MessageBody<'config.result'>);
  }
}

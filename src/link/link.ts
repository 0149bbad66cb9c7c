import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import { type BackoffPolicy, fullJitterDelay } from './backoff.js';
import { envelope, type StatusBody } from './messages.js';
import { topics } from './topics.js';

export interface KioskLinkOptions {
  kioskId: string;
  url: string;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  tls?: { ca: string; cert: string; key: string };
  reconnect: BackoffPolicy;
  log: Logger;
  bus: EventBus<RuntimeEvents>;
  /** what the retained status says besides `online`; asked at every publish */
  describe: () => Omit<StatusBody, 'online'>;
  random?: () => number;
}

/** MQTT 5 session expiry: a week, so a kiosk offline over a long weekend keeps its subscriptions. */
const SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;

/**
 * The kiosk's MQTT connection: persistent session, a last will saying offline, the retained
 * status republished on every connect, and reconnects spaced by capped exponential backoff with
 * full jitter (mqtt.js's own reconnect is a fixed interval, so it is switched off).
 */
export class KioskLink implements Service {
  readonly name = 'link';
  private client: MqttClient | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopping = false;
  private lastError: string | undefined;

  constructor(private readonly options: KioskLinkOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    const { kioskId, url, protocolVersion, keepaliveSeconds, tls } = this.options;
    const clientOptions: IClientOptions = {
      clientId: `kiosk-${kioskId}`,
      protocolVersion,
      clean: false,
      keepalive: keepaliveSeconds,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      will: {
        topic: topics.status(kioskId),
        payload: Buffer.from(JSON.stringify(envelope('kiosk.status', kioskId, { online: false }))),
        qos: 1,
        retain: true,
      },
    };
    if (protocolVersion === 5) clientOptions.properties = { sessionExpiryInterval: SESSION_EXPIRY_SECONDS };
    if (tls) {
      const [ca, cert, key] = await Promise.all([readFile(tls.ca), readFile(tls.cert), readFile(tls.key)]);
      Object.assign(clientOptions, { ca, cert, key, rejectUnauthorized: true });
    }
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    client.on('connect', () => {
      this.attempt = 0;
      this.lastError = undefined;
      this.options.log.info({ broker: redactUrl(url) }, 'link: connected');
      this.options.bus.emit('link.state', { state: 'up' });
      void this.publishStatus();
    });
    client.on('error', (error) => {
      this.lastError = error.message;
      this.options.log.warn({ err: error.message }, 'link: connection error');
    });
    client.on('close', () => {
      if (this.stopping) return;
      this.options.bus.emit('link.state', { state: 'degraded', detail: this.lastError ?? 'disconnected' });
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopping) return;
    const wait = fullJitterDelay(this.attempt++, this.options.reconnect, this.options.random);
    this.options.log.debug({ wait, attempt: this.attempt }, 'link: reconnecting after backoff');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, wait);
  }

  /** Publishes the retained status; a no-op while offline (the next connect publishes it). */
  async publishStatus(): Promise<void> {
    const client = this.client;
    if (!client?.connected) return;
    const body: StatusBody = { online: true, ...this.options.describe() };
    const message = envelope('kiosk.status', this.options.kioskId, body);
    try {
      await client.publishAsync(topics.status(this.options.kioskId), JSON.stringify(message), {
        qos: 1,
        retain: true,
      });
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message }, 'link: status publish failed');
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.connected) {
      // A clean disconnect suppresses the last will, so say offline ourselves first.
      const message = envelope('kiosk.status', this.options.kioskId, { online: false });
      await withTimeout(
        client.publishAsync(topics.status(this.options.kioskId), JSON.stringify(message), {
          qos: 1,
          retain: true,
        }),
        1000,
      ).catch(() => undefined);
    }
    await withTimeout(client.endAsync(), 1000).catch(() => client.end(true));
  }

  health(): Health {
    if (this.connected) return { state: 'up' };
    return { state: 'degraded', detail: this.lastError ? `offline: ${this.lastError}` : 'connecting' };
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Store } from '../store/index.js';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import type { BackoffPolicy } from '../util/backoff.js';
import { type InboundHandlers, InboundRouter } from './inbound.js';
import {
  decodeMessage,
  type Envelope,
  envelope,
  InvalidMessage,
  type MessageBody,
  type MessageType,
  type StatusBody,
} from './messages.js';
import { OutboxPump } from './outbox-pump.js';
import { OutboxResend } from './outbox-resend.js';
import { reconnectDelay } from './reconnect.js';
import { guardPacketSize, MAX_PACKET_BYTES } from './packet-size.js';
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
  /** the durable outbox to drain and the inbox that dedupes commands; without it the link only reports presence */
  store?: Store;
  inbound?: InboundHandlers;
  /** most outbox events unacknowledged at once (default 512) */
  window?: number;
  /** default timeout of `request` */
  requestTimeoutMs?: number;
  /** further topics to subscribe (QoS 1) on every connect, each with its handler (e.g. pushed config) */
  subscriptions?: readonly LinkSubscription[];
}

export interface LinkSubscription {
  topic: string;
  /** runs before the message is acknowledged; must not throw for bad input (log and return) */
  handle(payload: Buffer, topic: string): Promise<void>;
}

/** No answer to a request within its timeout. */
export class RequestTimeout extends Error {
  override readonly name = 'RequestTimeout';
  constructor(
    readonly op: string,
    readonly ms: number,
  ) {
    super(`no answer to ${op} within ${ms} ms`);
  }
}

/** The link settings operations may change while the kiosk runs (live config). */
export interface LinkTuning {
  keepaliveSeconds: number;
  tls?: { ca: string; cert: string; key: string } | undefined;
  reconnect: BackoffPolicy;
  requestTimeoutMs: number;
}

/** What the current connection was made with: the effective link settings. */
export interface LinkConnectionFacts {
  keepaliveSeconds: number;
  /** subject CN of the client certificate this connection presented (TLS only) */
  clientCertificate?: string;
  connects: number;
}

interface PendingRequest {
  expected: MessageType;
  resolve: (message: Envelope) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** MQTT 5 session expiry: a week, so a kiosk offline over a long weekend keeps its subscriptions. */
const SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;

/**
 * The kiosk's MQTT connection: persistent session, a last will saying offline, the retained
 * status republished on every connect, and reconnects spaced by capped exponential backoff with
 * full jitter (reconnect.ts; mqtt.js's own reconnect is a fixed interval, so it is switched off).
 */
export class KioskLink implements Service {
  readonly name = 'link';
  private client: MqttClient | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopping = false;
  private lastError: string | undefined;
  private pump: OutboxPump | undefined;
  private unsubscribeStore: (() => void) | undefined;
  private readonly requests = new Map<string, PendingRequest>();
  /** inbound messages that failed in a row (reset by the next one handled) */
  private inboundFailures = 0;
  private handingBack = false;
  /** `handedBack`: inbound messages left unacknowledged for redelivery */
  readonly counts = { handedBack: 0 };
  private connection: LinkConnectionFacts | undefined;
  private connects = 0;
  readonly inbound: InboundRouter;

  constructor(private readonly options: KioskLinkOptions) {
    this.inbound = new InboundRouter({
      kioskId: options.kioskId,
      store: options.store,
      handlers: options.inbound ?? {},
      log: options.log,
    });
  }

  get pumpStats(): OutboxPump['stats'] | undefined {
    return this.pump?.stats;
  }

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
    // MQTT 5: the broker is told our cap and never sends past it; 3.1.1: guardPacketSize below
    if (protocolVersion === 5)
      clientOptions.properties = {
        sessionExpiryInterval: SESSION_EXPIRY_SECONDS,
        maximumPacketSize: MAX_PACKET_BYTES,
      };
    if (tls) Object.assign(clientOptions, await tlsOptions(tls));
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    guardPacketSize(client, MAX_PACKET_BYTES, (declaredBytes) => {
      this.lastError = `packet of ${declaredBytes} bytes refused (limit ${MAX_PACKET_BYTES})`;
      this.options.log.warn({ declaredBytes }, 'link: oversized packet from the broker, connection closed');
    });
    // PUBACK of an inbound QoS 1 message goes out only after it is handled (recorded in the inbox).
    // A message whose handling failed is never acknowledged: see handBack.
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => {
      this.onInbound(packet.topic, toBuffer(packet.payload)).then(
        () => {
          this.inboundFailures = 0;
          done();
        },
        (error: unknown) => {
          // mqtt.js sends no PUBACK when `done` gets an error, and goes on with the next packet
          done(error instanceof Error ? error : new Error(String(error)));
          this.handBack(client, packet.topic, error);
        },
      );
    };
    const store = this.options.store;
    if (store) {
      const resend = new OutboxResend(client);
      const pump = new OutboxPump({
        store,
        kioskId,
        log: this.options.log,
        window: this.options.window ?? 512,
        pageSize: 256,
        transport: {
          get connected() {
            return client.connected;
          },
          publish: (topic, payload, done) => resend.publish(topic, payload, done),
        },
      });
      this.pump = pump;
      this.unsubscribeStore = store.on((event) => {
        if (event.kind === 'outbox' && event.added > 0) pump.kick();
      });
    }
    client.on('connect', () => {
      this.attempt = 0;
      this.lastError = undefined;
      this.connection = connectionFacts(client, ++this.connects);
      this.options.log.info({ broker: redactUrl(url) }, 'link: connected');
      this.options.bus.emit('link.state', { state: 'up' });
      void this.publishStatus();
      client
        .subscribeAsync(
          [
            topics.cmd(kioskId),
            topics.manifest(kioskId),
            topics.responses(kioskId),
            topics.updates(kioskId),
            ...(this.options.subscriptions ?? []).map((subscription) => subscription.topic),
          ],
          { qos: 1 },
        )
        .catch((error: unknown) =>
          this.options.log.warn({ err: (error as Error).message }, 'link: subscribe failed'),
        );
      this.pump?.onConnect();
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

  /**
   * An inbound message could not be handled (e.g. StoreFull while a manifest entry is stored, or
   * its handler threw): nothing of it was committed, and it must come again. Of the ways to get it
   * again, only one holds in every case:
   * - an MQTT 5 PUBACK with a reason code ≥ 0x80 (mqtt.js `customHandleAcks`) ends the delivery:
   *   Mosquitto (and the spec, §4.4) treats any PUBACK as final and never sends the message again;
   * - persisting the raw message in SQLite before the PUBACK fails exactly when the store is full;
   * - a broker resends an unacknowledged QoS 1 message only when the session resumes (MQTT 5
   *   §4.4: no resend within a connection). So the kiosk hangs up without the PUBACK and
   *   reconnects: its session is persistent (clean = false, session expiry a week), so Mosquitto
   *   keeps the message and delivers it again (DUP) on reconnect. A crash meanwhile changes
   *   nothing: the message is still unacknowledged at the broker.
   * Reconnects after repeated failures back off like connection failures (`inboundFailures`), so a
   * full disk does not turn into a reconnect storm. The redelivered copy is applied once: the inbox
   * id and the nonce are written in the same transaction as its effect, which rolled back.
   */
  private handBack(client: MqttClient, topic: string, error: unknown): void {
    this.inboundFailures++;
    this.counts.handedBack++;
    const reason = error instanceof Error ? error.name : 'error';
    this.lastError = `inbound message not handled (${reason}); reconnecting for redelivery`;
    this.options.log.error(
      { err: error, leaf: topic.split('/').at(-1), failures: this.inboundFailures },
      'link: inbound message could not be handled; not acknowledged, reconnecting so the broker redelivers it',
    );
    if (this.handingBack || this.stopping || this.client !== client) return;
    this.handingBack = true;
    // DISCONNECT (not a dropped socket): the session stays, the last will is not published — the
    // kiosk is not offline, it only asks for the message again
    client.end(false, () => {
      this.handingBack = false;
    });
  }

  /** The settings of the link in force, and what the current connection was made with. */
  get tuning(): LinkTuning & { connection?: LinkConnectionFacts } {
    const { keepaliveSeconds, tls, reconnect, requestTimeoutMs } = this.options;
    return {
      keepaliveSeconds,
      ...(tls ? { tls: { ...tls } } : {}),
      reconnect: { ...reconnect },
      requestTimeoutMs: requestTimeoutMs ?? 10_000,
      ...(this.connected && this.connection ? { connection: { ...this.connection } } : {}),
    };
  }

  /**
   * Pushed link settings (live config). Backoff and request timeout apply to the next wait and
   * request. A new keepalive or TLS identity is a new connection: the files are read first (a
   * missing file is refused here and the connection stays), then the link hangs up cleanly (the
   * session and its subscriptions stay at the broker, no last will) and reconnects with them.
   */
  async retune(tuning: LinkTuning): Promise<void> {
    const reconnect =
      tuning.keepaliveSeconds !== this.options.keepaliveSeconds ||
      JSON.stringify(tuning.tls) !== JSON.stringify(this.options.tls);
    const tls = tuning.tls ? await tlsOptions(tuning.tls) : undefined;
    Object.assign(this.options, {
      keepaliveSeconds: tuning.keepaliveSeconds,
      tls: tuning.tls,
      reconnect: { ...tuning.reconnect },
      requestTimeoutMs: tuning.requestTimeoutMs,
    });
    const client = this.client;
    if (!reconnect || !client || this.stopping) return;
    // mqtt.js builds every (re)connection from client.options, the TLS stream included
    client.options.keepalive = tuning.keepaliveSeconds;
    for (const field of ['ca', 'cert', 'key'] as const) delete client.options[field];
    if (tls) Object.assign(client.options, tls);
    this.attempt = 0;
    this.options.log.info(
      { keepaliveSeconds: tuning.keepaliveSeconds },
      'link: reconnecting with pushed settings',
    );
    if (client.connected) await client.endAsync(false);
    else this.scheduleReconnect();
    // the 'close' of the hang-up schedules the reconnect (backoff attempt 0: within reconnect.minMs);
    // done at the next connect, or at the next close when the new settings do not connect
    await new Promise<void>((done) => {
      const finish = () => {
        client.off('connect', finish);
        client.off('close', finish);
        done();
      };
      client.on('connect', finish);
      client.on('close', finish);
    });
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopping) return;
    const attempt = Math.max(this.attempt++, this.inboundFailures - 1);
    const wait = reconnectDelay(attempt, this.options.reconnect, this.options.random);
    this.options.log.debug({ wait, attempt: this.attempt }, 'link: reconnecting after backoff');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, wait);
  }

  private async onInbound(topic: string, payload: Buffer): Promise<void> {
    if (topic === topics.responses(this.options.kioskId)) return this.onResponse(payload);
    const subscription = this.options.subscriptions?.find((candidate) => candidate.topic === topic);
    if (subscription) return subscription.handle(payload, topic);
    const outcome = await this.inbound.handle(topic, payload);
    if (outcome === 'setAside') this.options.bus.emit('inbound.setAside', {});
  }

  private onResponse(payload: Buffer): void {
    let correlationId: string | undefined;
    try {
      const parsed: unknown = JSON.parse(payload.toString());
      const candidate = (parsed as { correlationId?: unknown } | null)?.correlationId;
      correlationId = typeof candidate === 'string' ? candidate : undefined;
    } catch {
      // reported below
    }
    const pending = correlationId === undefined ? undefined : this.requests.get(correlationId);
    if (!pending || correlationId === undefined) {
      this.options.log.warn('link: response rejected: no request waits for its correlationId');
      return;
    }
    try {
      const message = decodeMessage(payload, pending.expected);
      this.requests.delete(correlationId);
      clearTimeout(pending.timer);
      pending.resolve(message);
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn({ reason: error.reason }, 'link: invalid response rejected');
    }
  }

  /**
   * Sends a request on `registry/req/{op}` with a correlationId and replyTo = this kiosk's `res`
   * topic, and waits for the answer that echoes the correlationId, or rejects with RequestTimeout.
   */
  request<Req extends MessageType, Res extends MessageType>(
    op: string,
    type: Req,
    body: MessageBody<Req>,
    expected: Res,
    timeoutMs = this.options.requestTimeoutMs ?? 10_000,
  ): Promise<Envelope<MessageBody<Res>>> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('link is not started'));
    const correlationId = randomUUID();
    const message = envelope(type, this.options.kioskId, body, {
      correlationId,
      replyTo: topics.responses(this.options.kioskId),
      expiresAt: new Date(Date.now() + timeoutMs).toISOString(),
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(correlationId);
        reject(new RequestTimeout(op, timeoutMs));
      }, timeoutMs);
      this.requests.set(correlationId, {
        expected,
        resolve: resolve as (message: Envelope) => void,
        reject,
        timer,
      });
      client.publish(topics.registryRequest(op), JSON.stringify(message), { qos: 1 }, (error) => {
        if (!error) return;
        clearTimeout(timer);
        this.requests.delete(correlationId);
        reject(error);
      });
    });
  }

  /**
   * Publishes one message now (QoS 1), for answers that only matter while the caller waits (e.g.
   * `cmd/result`); durable events go through the store's outbox instead. Rejects while offline.
   */
  async publish(topic: string, message: Envelope): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error('link is offline');
    await client.publishAsync(topic, JSON.stringify(message), { qos: 1 });
  }

  /** Publishes at QoS 0 (telemetry: a lost one is replaced by the next); rejects while offline. */
  async publishQos0(topic: string, payload: string): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error('link is offline');
    await client.publishAsync(topic, payload, { qos: 0 });
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
    this.unsubscribeStore?.();
    await this.pump?.stop();
    for (const [id, pending] of this.requests) {
      clearTimeout(pending.timer);
      pending.reject(new Error('link stopped'));
      this.requests.delete(id);
    }
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

async function tlsOptions(tls: { ca: string; cert: string; key: string }) {
  const [ca, cert, key] = await Promise.all([readFile(tls.ca), readFile(tls.cert), readFile(tls.key)]);
  return { ca, cert, key, rejectUnauthorized: true };
}

function connectionFacts(client: MqttClient, connects: number): LinkConnectionFacts {
  const stream = client.stream as Partial<TLSSocket> | undefined;
  const certificate = typeof stream?.getCertificate === 'function' ? stream.getCertificate() : null;
  const subject = certificate && 'subject' in certificate ? (certificate.subject as { CN?: unknown }) : {};
  const cn = subject.CN;
  return {
    keepaliveSeconds: client.options.keepalive ?? 0,
    ...(typeof cn === 'string' ? { clientCertificate: cn } : {}),
    connects,
  };
}

function toBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
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

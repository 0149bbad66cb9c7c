/**
 * The fleet as central operations see it over MQTT: each kiosk's retained status and latest
 * telemetry folded into a health snapshot, the kiosks' events passed on, and publishing. The
 * rollout engine (and the ops dashboard) read the fleet through the `RolloutFleet` port only, so
 * either can feed it from its own MQTT client.
 */
import type { MqttClient } from 'mqtt';
import { decodeMessage, InvalidMessage } from '../link/messages.js';
import { parseKioskTopic, TOPIC_ROOT, topics } from '../link/topics.js';
import type { KioskSnapshot } from './rollout-record.js';

export type KioskMessageListener = (kioskId: string, leaf: string, payload: Buffer) => void;

/** What the rollout engine needs of the fleet. */
export interface RolloutFleet {
  /** the kiosk's health as last seen; undefined for a kiosk the broker never heard of */
  snapshot(kioskId: string): KioskSnapshot | undefined;
  /** every kiosk seen (retained status) */
  kiosks(): string[];
  /** publishes at QoS 1; resolves on the broker's PUBACK */
  publish(topic: string, payload: string, options: { retain: boolean }): Promise<void>;
  /** every message a kiosk publishes (events, status, telemetry); returns the unsubscribe */
  onKioskMessage(listener: KioskMessageListener): () => void;
}

/** `cccd/v1/kiosk/+/telemetry` */
export const ALL_TELEMETRY = `${TOPIC_ROOT}/kiosk/+/telemetry`;

/**
 * A `RolloutFleet` over an mqtt.js client. For a rollout that must survive the ops process,
 * connect the client with a stable client id and `clean: false`: the broker then keeps the
 * kiosks' QoS 1 answers that arrive while the process is down.
 */
export class MqttFleetFeed implements RolloutFleet {
  private readonly snapshots = new Map<string, KioskSnapshot>();
  private readonly listeners = new Set<KioskMessageListener>();
  private readonly onMessage = (topic: string, payload: Buffer) => this.receive(topic, payload);
  /** kiosk messages held until `release()`: see the constructor */
  private held: [string, string, Buffer][] | undefined;

  /**
   * Listens on `client` from now on (call it right after `mqtt.connect`, before the connection is
   * up: a persistent session's queued messages may come in the same packet as the CONNACK).
   * With `hold`, kiosk messages are passed on only once `release()` is called, so the engine can
   * first take up the rollout those queued answers belong to.
   */
  constructor(
    private readonly client: MqttClient,
    options: { hold?: boolean; now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
    if (options.hold) this.held = [];
    client.on('message', this.onMessage);
  }

  private readonly now: () => number;

  /** Subscribes to statuses, telemetry and events; resolves once the broker granted them. */
  async start(): Promise<void> {
    await this.client.subscribeAsync([topics.allStatuses(), ALL_TELEMETRY, topics.allEvents()], { qos: 1 });
  }

  /** Passes on the kiosk messages held since construction, and every later one at once. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const [kioskId, leaf, payload] of held) this.pass(kioskId, leaf, payload);
  }

  private pass(kioskId: string, leaf: string, payload: Buffer): void {
    for (const listener of this.listeners) listener(kioskId, leaf, payload);
  }

  async stop(): Promise<void> {
    this.client.off('message', this.onMessage);
    if (this.client.connected)
      await this.client
        .unsubscribeAsync([topics.allStatuses(), ALL_TELEMETRY, topics.allEvents()])
        .catch(() => undefined);
  }

  snapshot(kioskId: string): KioskSnapshot | undefined {
    return this.snapshots.get(kioskId);
  }

  kiosks(): string[] {
    return [...this.snapshots.keys()].sort();
  }

  async publish(topic: string, payload: string, options: { retain: boolean }): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain: options.retain });
  }

  onKioskMessage(listener: KioskMessageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private receive(topic: string, payload: Buffer): void {
    const parsed = parseKioskTopic(topic);
    if (!parsed || payload.length === 0) return;
    try {
      if (parsed.leaf === 'status') this.foldStatus(parsed.kioskId, payload);
      else if (parsed.leaf === 'telemetry') this.foldTelemetry(parsed.kioskId, payload);
    } catch (error) {
      // a kiosk's malformed message says nothing about its health; never crash the ops process
      if (!(error instanceof InvalidMessage)) throw error;
    }
    if (this.held) this.held.push([parsed.kioskId, parsed.leaf, payload]);
    else this.pass(parsed.kioskId, parsed.leaf, payload);
  }

  private previous(kioskId: string): KioskSnapshot {
    return this.snapshots.get(kioskId) ?? { online: false, devices: {}, parts: {}, seenAt: 0 };
  }

  private foldStatus(kioskId: string, payload: Buffer): void {
    const { body } = decodeMessage(payload, 'kiosk.status');
    const before = this.previous(kioskId);
    // a last will says only `online: false`: what it leaves out is kept from before
    const said = body.online || body.version !== undefined;
    const next: KioskSnapshot = {
      ...before,
      online: body.online,
      devices: body.devices ?? before.devices,
      seenAt: this.now(),
    };
    if (said) {
      if (body.outOfService) next.outOfService = body.outOfService;
      else delete next.outOfService;
    }
    if (body.configVersions) next.configVersions = body.configVersions;
    if (body.version) next.software = body.version;
    this.snapshots.set(kioskId, next);
  }

  private foldTelemetry(kioskId: string, payload: Buffer): void {
    const { body } = decodeMessage(payload, 'kiosk.telemetry');
    const before = this.previous(kioskId);
    const next: KioskSnapshot = {
      ...before,
      // telemetry only comes from a connected kiosk
      online: true,
      parts: Object.fromEntries(Object.entries(body.parts).map(([name, part]) => [name, part.state])),
      configVersions: body.versions.config,
      software: body.versions.software,
      seenAt: this.now(),
    };
    if (body.service.inService) delete next.outOfService;
    else next.outOfService = body.service.reasons.join('; ') || 'out of service';
    this.snapshots.set(kioskId, next);
  }
}

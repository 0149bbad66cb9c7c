/**
 * A lightweight simulated kiosk for the dashboard tests: one MQTT client that publishes what a
 * kiosk publishes — a retained `kiosk.status` (last will: offline) and `kiosk.telemetry`, in the
 * schemas of src/link/messages.ts — and answers a pushed config the way FleetService does: the
 * signature checked against the pinned operations key and the target checked before anything,
 * then `config.result` on its events topic and a new status. `refuseConfig` injects a failure:
 * the kiosk refuses every config (as a kiosk refuses settings it cannot apply).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { pinKeys, verifyEnvelope } from '../../src/fleet/index.js';
import { decodeMessage, envelope, type StatusBody, type TelemetryBody } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';

export interface SimKioskOptions {
  id: string;
  brokerUrl: string;
  /** base64 raw Ed25519 key of operations, as a kiosk pins it */
  opsPublicKey: string;
  software?: string;
  /** publish a status and go away: an offline kiosk (its last will) */
  offline?: boolean;
  refuseConfig?: boolean;
  /** a part to show down (e.g. `devices.printer`) with its fault */
  faulty?: string;
  queueDepth?: number;
}

export class SimKiosk {
  private client: MqttClient | undefined;
  private interval: NodeJS.Timeout | undefined;
  private configVersion = 0;
  /** config message ids this kiosk received (applied or refused) */
  readonly configsSeen: string[] = [];
  private readonly startedAt = new Date().toISOString();

  constructor(readonly options: SimKioskOptions) {}

  async start(): Promise<void> {
    const { id, brokerUrl } = this.options;
    this.client = await mqtt.connectAsync(brokerUrl, {
      protocolVersion: 4,
      clientId: `sim-${id}`,
      will: {
        topic: topics.status(id),
        payload: Buffer.from(JSON.stringify(envelope('kiosk.status', id, { online: false }))),
        qos: 1,
        retain: true,
      },
    });
    // a message that fails the checks is ignored, as a kiosk refuses it
    this.client.on('message', (topic, payload) => void this.onMessage(topic, payload).catch(() => undefined));
    await this.client.subscribeAsync([topics.config(id), topics.fleetConfig()], { qos: 1 });
    await this.publishStatus();
    if (this.options.offline) {
      // a kiosk that went away: its last will is its last word
      await this.client.publishAsync(
        topics.status(id),
        JSON.stringify(envelope('kiosk.status', id, { online: false })),
        { qos: 1, retain: true },
      );
      await this.client.endAsync();
      this.client = undefined;
      return;
    }
    await this.publishTelemetry('connect');
    // as a kiosk every telemetry interval (short here: the dashboard may subscribe after this one)
    this.interval = setInterval(() => void this.publishTelemetry('interval').catch(() => undefined), 2000);
  }

  async stop(): Promise<void> {
    clearInterval(this.interval);
    // an abrupt end: the broker publishes the last will, as for a kiosk that lost power
    this.client?.end(true);
    this.client = undefined;
  }

  private status(): StatusBody {
    return {
      online: true,
      version: this.options.software ?? '0.1.0',
      startedAt: this.startedAt,
      devices: {
        scanner: 'ok',
        fingerprint: 'ok',
        printer: this.options.faulty === 'devices.printer' ? 'missing' : 'ok',
        dispenser: 'ok',
      },
      queueDepth: this.options.queueDepth ?? 0,
      configVersions: { fleet: 0, kiosk: this.configVersion },
      locked: false,
    };
  }

  private telemetry(trigger: TelemetryBody['trigger']): TelemetryBody {
    const faulty = this.options.faulty;
    return {
      trigger,
      uptimeSeconds: 3600,
      parts: {
        store: { state: 'up' },
        link: { state: 'up' },
        devices: { state: faulty ? 'degraded' : 'up' },
        ...(faulty ? { [faulty]: { state: 'down', detail: 'no answer on its port' } } : {}),
      },
      queue: { depth: this.options.queueDepth ?? 0, oldestAgeSeconds: this.options.queueDepth ? 42 : null },
      inventory: { 'in-slot': 12, dispensed: 3 },
      versions: {
        software: this.options.software ?? '0.1.0',
        config: { fleet: 0, kiosk: this.configVersion },
      },
      service: { inService: true, locked: false, reasons: [] },
      faults: faulty
        ? [{ code: `device.${faulty.split('.')[1]}.missing`, at: new Date().toISOString() }]
        : [],
    };
  }

  private async publishStatus(): Promise<void> {
    const id = this.options.id;
    await this.client?.publishAsync(
      topics.status(id),
      JSON.stringify(envelope('kiosk.status', id, this.status())),
      {
        qos: 1,
        retain: true,
      },
    );
  }

  async publishTelemetry(trigger: TelemetryBody['trigger']): Promise<void> {
    const id = this.options.id;
    await this.client?.publishAsync(
      topics.telemetry(id),
      JSON.stringify(envelope('kiosk.telemetry', id, this.telemetry(trigger))),
      { qos: 0 },
    );
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (payload.length === 0) return;
    const id = this.options.id;
    const message = decodeMessage(payload, 'config.push');
    // as FleetService: signed by a pinned key and meant for this kiosk, or ignored
    verifyEnvelope(message, pinKeys([this.options.opsPublicKey]));
    if (topic === topics.config(id) && message.to !== id) return;
    if (this.configsSeen.includes(message.id)) return;
    this.configsSeen.push(message.id);
    const refused = this.options.refuseConfig === true;
    if (!refused && topic === topics.config(id)) this.configVersion = message.body.version;
    const result = envelope('config.result', id, {
      version: message.body.version,
      configId: message.id,
      status: refused ? 'refused' : 'applied',
      ...(refused ? { reason: 'invalid' as const, detail: 'injected failure: settings not applicable' } : {}),
    });
    await this.client?.publishAsync(topics.events(id), JSON.stringify(result), { qos: 1 });
    await this.publishStatus();
    await this.publishTelemetry('change');
  }
}

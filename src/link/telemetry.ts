/**
 * Telemetry (issue 13): a `kiosk.telemetry` message on `kiosk/{id}/telemetry`, QoS 0 and not
 * retained — a lost one is replaced by the next — every `intervalMs`, soon after a change (a
 * device, the store, the lock, the config) and on every connect, so the dashboard never shows a
 * picture older than one interval. Changes are coalesced: at most one change-triggered message per
 * `minGapMs`. The picture comes from `snapshot` (wired in runtime/telemetry.ts); this module only
 * decides when to send and keeps the recent fault codes.
 */
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import { envelope, type TelemetryBody, TelemetryBodySchema } from './messages.js';
import { topics } from './topics.js';

/** Most fault codes kept (and sent); older ones fall off. */
export const MAX_RECENT_FAULTS = 20;

export type TelemetryTrigger = TelemetryBody['trigger'];
export type TelemetrySnapshot = Omit<TelemetryBody, 'trigger' | 'faults' | 'uptimeSeconds'>;

export interface TelemetryOptions {
  kioskId: string;
  intervalMs: number;
  /** least time between two change-triggered messages (default 1 s) */
  minGapMs?: number;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  /** the kiosk's picture now */
  snapshot: () => Promise<TelemetrySnapshot>;
  /** publishes at QoS 0; rejects while offline */
  publish: (topic: string, payload: string) => Promise<void>;
  now?: () => number;
}

/** The recent fault codes, newest last, bounded. */
export class FaultLog {
  private readonly entries: TelemetryBody['faults'] = [];

  note(code: string, at: number): void {
    const last = this.entries.at(-1);
    if (last?.code === code) return; // the same fault reported again is not news
    this.entries.push({ code: code.slice(0, 100), at: new Date(at).toISOString() });
    if (this.entries.length > MAX_RECENT_FAULTS)
      this.entries.splice(0, this.entries.length - MAX_RECENT_FAULTS);
  }

  get recent(): TelemetryBody['faults'] {
    return [...this.entries];
  }
}

export class TelemetryReporter implements Service {
  readonly name = 'telemetry';
  readonly faults = new FaultLog();
  private readonly startedAt: number;
  private interval: NodeJS.Timeout | undefined;
  private changeTimer: NodeJS.Timeout | undefined;
  private lastSentAt = 0;
  private sending: Promise<void> = Promise.resolve();
  private lastError: string | undefined;
  readonly counts = { sent: 0, failed: 0 };

  /** How often telemetry is sent (mqtt.telemetryIntervalMs as this runtime was built with it). */
  get intervalMs(): number {
    return this.options.intervalMs;
  }

  constructor(private readonly options: TelemetryOptions) {
    this.startedAt = this.now();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async start(): Promise<void> {
    const { bus } = this.options;
    bus.on('telemetry', 'device.health', ({ device, state }) => {
      if (state !== 'ok' && state !== 'disabled') this.faults.note(`device.${device}.${state}`, this.now());
      this.changed();
    });
    bus.on('telemetry', 'store.health', ({ state, acceptsNewSessions }) => {
      if (!acceptsNewSessions) this.faults.note('store.full', this.now());
      else if (state !== 'up') this.faults.note(`store.${state}`, this.now());
      this.changed();
    });
    bus.on('telemetry', 'link.state', ({ state }) => {
      if (state === 'up') this.send('connect');
    });
    bus.on('telemetry', 'inbound.setAside', () => {
      this.faults.note('inbound.setAside', this.now());
      this.changed();
    });
    bus.on('telemetry', 'fleet.lock', () => this.changed());
    bus.on('telemetry', 'config.applied', () => this.changed());
    this.interval = setInterval(() => this.send('interval'), this.options.intervalMs);
    this.interval.unref();
    // the link may have connected before this part started: the first picture goes out soon
    this.changed();
  }

  /** Something the dashboard shows changed: send soon, but not more than once per `minGapMs`. */
  changed(): void {
    if (this.changeTimer) return;
    const gap = this.options.minGapMs ?? 1000;
    const wait = Math.max(0, this.lastSentAt + gap - this.now());
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      this.send('change');
    }, wait);
    this.changeTimer.unref();
  }

  /** Builds and publishes one message; messages go out one at a time, in order. */
  send(trigger: TelemetryTrigger): Promise<void> {
    this.sending = this.sending.then(() => this.publishOne(trigger));
    return this.sending;
  }

  private async publishOne(trigger: TelemetryTrigger): Promise<void> {
    this.lastSentAt = this.now();
    try {
      const body: TelemetryBody = TelemetryBodySchema.parse({
        ...(await this.options.snapshot()),
        trigger,
        uptimeSeconds: Math.max(0, Math.floor((this.now() - this.startedAt) / 1000)),
        faults: this.faults.recent,
      });
      const message = envelope('kiosk.telemetry', this.options.kioskId, body);
      await this.options.publish(topics.telemetry(this.options.kioskId), JSON.stringify(message));
      this.counts.sent++;
      this.lastError = undefined;
    } catch (error) {
      // offline or a snapshot that does not fit the schema: the next interval tries again
      this.counts.failed++;
      this.lastError = (error as Error).message.slice(0, 200);
      this.options.log.debug({ err: this.lastError, trigger }, 'telemetry: not sent');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.interval);
    clearTimeout(this.changeTimer);
    this.options.bus.off('telemetry');
    await this.sending;
  }

  health(): Health {
    if (!this.interval) return { state: 'stopped' };
    // best effort: an unsent picture (offline) is the link's health, not a reason to call the kiosk unwell
    return {
      state: 'up',
      detail: `sent ${this.counts.sent}, not sent ${this.counts.failed}${this.lastError ? ` (last: ${this.lastError})` : ''}`,
    };
  }
}

import { isReopenableSerial, type LinkHealth, type SerialParams } from '../../devices/index.js';
import type { EventBus } from '../util/bus.js';
import type { DeviceHealthState, RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';

/** What the device manager needs of any driver. */
export interface ManagedDevice {
  readonly health: LinkHealth;
  readonly healthDetail: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'health', listener: (health: LinkHealth, detail: string | undefined) => void): unknown;
  /**
   * A real exchange with the device (request/response devices only). The manager calls it
   * periodically so that an open port with a silent device turns `degraded`; `kiosk doctor` calls
   * it once. Rejects with the driver's typed error.
   */
  probe?(): Promise<void>;
}

/**
 * Starts the configured devices and watches them. One device failing to start or disappearing
 * never stops the others: each start is isolated, and a missing device keeps retrying inside its
 * driver while the runtime runs on.
 */
export class DeviceManager implements Service {
  readonly name = 'devices';
  private readonly states = new Map<string, { state: DeviceHealthState; detail?: string }>();
  private probeTimer: NodeJS.Timeout | undefined;
  /** how often devices with `probe()` are asked a real question; 0 = never */
  probeIntervalMs = 0;
  private started = false;
  private readonly reopening = new Set<string>();

  constructor(
    private readonly devices: ReadonlyMap<string, ManagedDevice>,
    disabled: readonly string[],
    private readonly bus: EventBus<RuntimeEvents>,
    private readonly log: Logger,
  ) {
    for (const name of disabled) this.states.set(name, { state: 'disabled' });
  }

  async start(): Promise<void> {
    this.started = true;
    await Promise.all(
      [...this.devices].map(async ([name, device]) => {
        device.on('health', (health, detail) => this.update(name, health, detail));
        try {
          await device.start();
        } catch (error) {
          this.log.error({ device: name, err: (error as Error).message }, 'device failed to start');
        }
        this.update(name, device.health, device.healthDetail);
      }),
    );
    this.scheduleProbes();
  }

  private scheduleProbes(): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    if (this.probeIntervalMs > 0) {
      this.probeTimer = setInterval(() => void this.probeAll(), this.probeIntervalMs);
      this.probeTimer.unref();
    }
  }

  /** A pushed `devices.probeIntervalMs`: the probe timer runs again at the new interval. */
  setProbeInterval(ms: number): void {
    this.probeIntervalMs = ms;
    if (this.started) this.scheduleProbes();
  }

  /** The path and speed a serial device is opened at (undefined: not configured, or not serial). */
  serialParams(name: string): SerialParams | undefined {
    const device = this.devices.get(name);
    return isReopenableSerial(device) ? device.serialParams : undefined;
  }

  /**
   * A pushed device setting: the driver closes its port and opens it at `params`, keeping its
   * listeners (sessions hold the same driver). Its health is reported as it goes.
   */
  async reopen(name: string, params: SerialParams): Promise<void> {
    const device = this.devices.get(name);
    if (!isReopenableSerial(device)) return;
    const before = device.serialParams;
    if (before.path === params.path && before.baudRate === params.baudRate) return;
    this.log.info({ device: name, baudRate: params.baudRate }, 'device reopens with pushed settings');
    // the close of a deliberate reopen is not a fault: health is reported once it is open again
    this.reopening.add(name);
    try {
      await device.reopen(params);
    } finally {
      this.reopening.delete(name);
      this.update(name, device.health, device.healthDetail);
    }
  }

  /** Asks each present device with a `probe()` one real question; failures show in its health. */
  private async probeAll(): Promise<void> {
    await Promise.all(
      [...this.devices].map(async ([name, device]) => {
        if (!device.probe || device.health === 'missing') return;
        try {
          await device.probe();
        } catch (error) {
          this.log.debug({ device: name, err: (error as Error).name }, 'device probe failed');
        }
      }),
    );
  }

  private update(name: string, state: DeviceHealthState, detail: string | undefined): void {
    if (this.reopening.has(name)) return;
    const previous = this.states.get(name);
    if (previous?.state === state && previous.detail === detail) return;
    this.states.set(name, detail === undefined ? { state } : { state, detail });
    const level = state === 'ok' ? 'info' : 'warn';
    this.log[level]({ device: name, state, detail }, 'device health');
    this.bus.emit(
      'device.health',
      detail === undefined ? { device: name, state } : { device: name, state, detail },
    );
  }

  /** `{ scanner: 'ok', printer: 'missing' }` for the retained status. */
  summary(): Record<string, DeviceHealthState> {
    return Object.fromEntries([...this.states].map(([name, { state }]) => [name, state]));
  }

  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.probeTimer);
    await Promise.all(
      [...this.devices].map(async ([name, device]) => {
        try {
          await device.stop();
        } catch (error) {
          this.log.warn({ device: name, err: (error as Error).message }, 'device failed to stop cleanly');
        }
      }),
    );
  }

  health(): Health {
    const parts: Record<string, Health> = {};
    let worst: Health['state'] = 'up';
    for (const [name, { state, detail }] of this.states) {
      const mapped: Health['state'] =
        state === 'ok' || state === 'disabled' ? 'up' : state === 'degraded' ? 'degraded' : 'down';
      parts[name] =
        detail === undefined
          ? { state: mapped, detail: state }
          : { state: mapped, detail: `${state}: ${detail}` };
      if (mapped === 'down') worst = 'degraded';
      else if (mapped === 'degraded' && worst === 'up') worst = 'degraded';
    }
    return { state: worst, parts };
  }
}

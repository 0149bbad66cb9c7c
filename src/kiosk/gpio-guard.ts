/**
 * What the kiosk's GPIO parts mean to the citizen sessions (devices/gpio):
 * - the tamper switch takes the kiosk out of service at once: it is published as the pseudo-device
 *   `tamper` going missing, so the session machine ends the session the way it ends one whose
 *   device vanished (a card outside its slot is brought to safety: from the tray to the capture
 *   bin), and `fault.tamper` goes out once per trip (outbox, same transaction as its audit row),
 *   also for a trip found at start (the switch tripped while the kiosk was off or restarting): the
 *   audit log says whether the trip in force was reported already, so a restart while it stays
 *   tripped does not report it again;
 * - an open service door keeps the kiosk out of service (pseudo-device `serviceDoor`) until it
 *   closes; no session starts while it is open;
 * - the LEDs guide the citizen: `finger` lights while the sensor waits for a finger, `card` while
 *   the card waits in the tray (any other configured LED is left alone).
 * A configured input whose state cannot be read (GPIO missing) counts as tripped/open: a kiosk
 * that cannot see its tamper switch does not serve.
 */
import type { GpioInputName, KioskGpio } from '../../devices/index.js';
import type { Store } from '../store/index.js';
import type { EventBus } from '../util/bus.js';
import type { DeviceHealthState, RuntimeEvents } from '../util/events.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import type { SessionView } from './view.js';

/** The inputs that keep the kiosk out of service while active, as session "devices". */
export const GUARD_INPUTS = ['tamper', 'serviceDoor'] as const satisfies readonly GpioInputName[];
export type GuardInput = (typeof GUARD_INPUTS)[number];

const TAMPER_TRIPPED = 'gpio.tamper';
const TAMPER_CLEARED = 'gpio.tamper-cleared';

/** Which LED lights in which session phase. */
const LED_PHASES: Record<string, readonly string[]> = {
  finger: ['finger'],
  card: ['take-card'],
};

export interface GpioGuardOptions {
  gpio: KioskGpio;
  /** the guard inputs that are wired (configured) on this kiosk */
  inputs: readonly GuardInput[];
  store: Store;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  /** the citizen sessions' view, for the LEDs */
  sessions?: { subscribe(listener: (view: SessionView) => void): () => void; current(): SessionView };
}

export class GpioGuard implements Service {
  readonly name = 'gpio-guard';
  private readonly detach: Array<() => void> = [];
  private readonly lit = new Map<string, boolean>();
  private checkedStartTrip = false;

  constructor(private readonly options: GpioGuardOptions) {}

  /** The session "device" states of the guard inputs: `ok` only while known and inactive. */
  states(): Record<string, DeviceHealthState> {
    const { gpio, inputs } = this.options;
    const states: Record<string, DeviceHealthState> = {};
    for (const input of inputs)
      states[input] = gpio.health === 'ok' && gpio.isActive(input) === false ? 'ok' : 'missing';
    return states;
  }

  async start(): Promise<void> {
    const { gpio, sessions } = this.options;
    const onInput = (name: GpioInputName, active: boolean) => void this.onInput(name, active);
    const onHealth = () => {
      this.publishAll();
      void this.reportTripFoundAtStart();
    };
    gpio.on('input', onInput);
    gpio.on('health', onHealth);
    this.detach.push(
      () => gpio.off('input', onInput),
      () => gpio.off('health', onHealth),
    );
    if (sessions) {
      this.detach.push(sessions.subscribe((view) => void this.guideLeds(view)));
      void this.guideLeds(sessions.current());
    }
    this.publishAll();
    await this.reportTripFoundAtStart();
  }

  async stop(): Promise<void> {
    for (const undo of this.detach.splice(0)) undo();
  }

  health(): Health {
    const tripped = Object.entries(this.states()).filter(([, state]) => state !== 'ok');
    return tripped.length
      ? { state: 'degraded', detail: `${tripped.map(([name]) => name).join(', ')} active or unknown` }
      : { state: 'up' };
  }

  private publishAll(): void {
    for (const [device, state] of Object.entries(this.states()))
      this.options.bus.emit('device.health', { device, state });
  }

  private async onInput(name: GpioInputName, active: boolean): Promise<void> {
    const { inputs, store, log } = this.options;
    if (!(inputs as readonly string[]).includes(name)) return;
    log.warn({ input: name, active }, active ? 'gpio: guard input active' : 'gpio: guard input cleared');
    if (name === 'tamper') {
      // recorded before the session is told, so the event is out even if the kiosk dies next
      await store.transaction(async (tx) => {
        if (!active) return tx.audit('kiosk', TAMPER_CLEARED, {});
        await tx.audit('kiosk', TAMPER_TRIPPED, {});
        tx.emit({ type: 'fault.tamper', body: {} });
      });
    }
    this.options.bus.emit('device.health', { device: name, state: active ? 'missing' : 'ok' });
  }

  /**
   * The inputs' first reading is not a change, so a switch already tripped when the GPIO starts
   * sends no `input` event: reported here, once the lines are readable, unless the audit log shows
   * this trip was reported before a restart (no clear since the last trip).
   */
  private async reportTripFoundAtStart(): Promise<void> {
    const { gpio, inputs, store, log } = this.options;
    if (this.checkedStartTrip || !inputs.includes('tamper') || gpio.health !== 'ok') return;
    this.checkedStartTrip = true;
    if (gpio.isActive('tamper') !== true) return;
    const reported = await store.transaction(async (tx) => {
      const last = await tx.get<{ action: string }>(
        `SELECT action FROM audit WHERE action IN (?, ?) ORDER BY id DESC LIMIT 1`,
        [TAMPER_TRIPPED, TAMPER_CLEARED],
      );
      if (last?.action === TAMPER_TRIPPED) return false;
      await tx.audit('kiosk', TAMPER_TRIPPED, { foundAtStart: true });
      tx.emit({ type: 'fault.tamper', body: {} });
      return true;
    });
    log.warn({ reported }, 'gpio: tamper switch found tripped at start');
  }

  private async guideLeds(view: SessionView): Promise<void> {
    for (const [led, phases] of Object.entries(LED_PHASES)) {
      const on = phases.includes(view.screen);
      if (this.lit.get(led) === on) continue;
      this.lit.set(led, on);
      try {
        await this.options.gpio.setLed(led, on);
      } catch {
        // an LED that is not configured (or GPIO missing) guides nobody; nothing else depends on it
      }
    }
  }
}

/** The guard inputs this configuration wires (only with GPIO enabled). */
export function configuredGuardInputs(
  gpio: { enabled: boolean; inputs: Partial<Record<GpioInputName, unknown>> } | undefined,
): GuardInput[] {
  if (!gpio?.enabled) return [];
  return GUARD_INPUTS.filter((input) => gpio.inputs[input] !== undefined);
}

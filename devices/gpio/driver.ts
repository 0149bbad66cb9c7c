import { EventEmitter } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import type { Gpio as OnoffGpio } from 'onoff';
import { join } from 'node:path';
import { DeviceDisconnected } from '../transport/errors.js';
import type { LinkHealth } from '../transport/serial.js';
import { bcmToLine, Debouncer, type GpioChip } from './protocol.js';

/** Reads the GPIO chips from sysfs; `root` is injectable so a fake tree can stand in for it. */
export async function readGpioChips(root = '/sys/class/gpio'): Promise<GpioChip[]> {
  const entries = (await readdir(root)).filter((name) => /^gpiochip\d+$/.test(name));
  return Promise.all(
    entries.map(async (name) => {
      const read = async (file: string) => (await readFile(join(root, name, file), 'utf8')).trim();
      return {
        name,
        base: Number(await read('base')),
        ngpio: Number(await read('ngpio')),
        label: await read('label'),
      };
    }),
  );
}

/** One GPIO line as the backend gives it (onoff's Gpio, or the fake). */
export interface GpioLine {
  read(): Promise<number>;
  write(value: number): Promise<void>;
  /** raw edges (both); returns a function that stops watching */
  watch(listener: (value: number) => void): void;
  release(): void;
}

export interface GpioBackend {
  readonly accessible: boolean;
  input(line: number): GpioLine;
  output(line: number, initial: number): GpioLine;
}

export type GpioInputName = 'serviceDoor' | 'tamper' | 'presence' | 'serviceButton';

export interface KioskGpioConfig {
  /** BCM numbers; an input may be active-low (closed contact to ground with pull-up) */
  inputs: Partial<Record<GpioInputName, { bcm: number; activeLow?: boolean }>>;
  doorLock?: { bcm: number; activeLow?: boolean };
  leds: Record<string, number>;
  debounceMs: number;
}

interface GpioEvents {
  health: [LinkHealth, string | undefined];
  /** a debounced input changed: `active` = door open, tamper triggered, person present, button down */
  input: [GpioInputName, boolean];
}

/**
 * The kiosk's GPIO parts: door lock relay, service-door and tamper switches, presence sensor,
 * service button, status LEDs. BCM numbers are mapped to kernel lines through the chips read from
 * sysfs (base 512 on kernel 6.6). On a machine without GPIO, health is `missing` and the runtime
 * runs on; only a Raspberry Pi (or the fake backend in tests) makes it `ok`.
 */
export class KioskGpio extends EventEmitter<GpioEvents> {
  private lines: GpioLine[] = [];
  private debouncers: Debouncer[] = [];
  private lock: { line: GpioLine; activeLow: boolean } | undefined;
  private readonly leds = new Map<string, GpioLine>();
  private state: LinkHealth = 'missing';
  private detail: string | undefined = 'not started';
  private readonly active = new Map<GpioInputName, boolean>();

  constructor(
    private readonly config: KioskGpioConfig,
    private readonly backend: () => Promise<GpioBackend>,
    private readonly sysfsRoot = '/sys/class/gpio',
  ) {
    super();
  }

  get health(): LinkHealth {
    return this.state;
  }

  get healthDetail(): string | undefined {
    return this.detail;
  }

  isActive(name: GpioInputName): boolean | undefined {
    return this.active.get(name);
  }

  async start(): Promise<void> {
    try {
      const backend = await this.backend();
      if (!backend.accessible) throw new Error('no GPIO on this machine (sysfs GPIO not accessible)');
      const chips = await readGpioChips(this.sysfsRoot);
      for (const [name, input] of Object.entries(this.config.inputs) as [
        GpioInputName,
        { bcm: number; activeLow?: boolean },
      ][]) {
        const line = backend.input(bcmToLine(input.bcm, chips));
        this.lines.push(line);
        const toActive = (value: number) => (input.activeLow ? value === 0 : value === 1);
        const initial = await line.read();
        this.active.set(name, toActive(initial));
        const debouncer = new Debouncer(initial, this.config.debounceMs, (value) => {
          this.active.set(name, toActive(value));
          this.emit('input', name, toActive(value));
        });
        this.debouncers.push(debouncer);
        line.watch((value) => debouncer.sample(value));
      }
      if (this.config.doorLock) {
        const activeLow = this.config.doorLock.activeLow ?? false;
        // fail-secure: the relay starts in its "locked" state
        const line = backend.output(bcmToLine(this.config.doorLock.bcm, chips), activeLow ? 1 : 0);
        this.lines.push(line);
        this.lock = { line, activeLow };
      }
      for (const [name, bcm] of Object.entries(this.config.leds)) {
        const line = backend.output(bcmToLine(bcm, chips), 0);
        this.lines.push(line);
        this.leds.set(name, line);
      }
      this.setHealth('ok', undefined);
    } catch (error) {
      this.release();
      this.setHealth('missing', (error as Error).message);
    }
  }

  /** Energises (unlock) or releases (lock) the door lock relay. */
  async setDoorUnlocked(unlocked: boolean): Promise<void> {
    if (!this.lock) throw new DeviceDisconnected('gpio', 'no door lock configured or GPIO missing');
    const on = unlocked ? 1 : 0;
    await this.lock.line.write(this.lock.activeLow ? 1 - on : on);
  }

  async setLed(name: string, on: boolean): Promise<void> {
    const led = this.leds.get(name);
    if (!led) throw new DeviceDisconnected('gpio', `no LED "${name}" (not configured or GPIO missing)`);
    await led.write(on ? 1 : 0);
  }

  private setHealth(state: LinkHealth, detail: string | undefined): void {
    this.state = state;
    this.detail = detail;
    this.emit('health', state, detail);
  }

  private release(): void {
    for (const debouncer of this.debouncers) debouncer.dispose();
    for (const line of this.lines) line.release();
    this.debouncers = [];
    this.lines = [];
    this.leds.clear();
    this.lock = undefined;
  }

  async stop(): Promise<void> {
    this.release();
    this.setHealth('missing', 'stopped');
  }
}

/**
 * The real backend: onoff over sysfs. Loaded lazily: only a Pi has the lines it opens. onoff is an
 * optional dependency (its epoll addon compiles at install time); without it GPIO is `missing`.
 */
export async function onoffBackend(): Promise<GpioBackend> {
  let Gpio: typeof OnoffGpio;
  try {
    ({ Gpio } = await import('onoff'));
  } catch (error) {
    throw new Error(`onoff is not installed or its epoll addon did not build (${(error as Error).message})`, {
      cause: error,
    });
  }
  return {
    accessible: Gpio.accessible,
    input(line) {
      const gpio = new Gpio(line, 'in', 'both');
      return {
        read: () => gpio.read(),
        write: (value) => gpio.write(value === 1 ? 1 : 0),
        watch: (listener) => gpio.watch((error, value) => error || listener(value)),
        release: () => gpio.unexport(),
      };
    },
    output(line, initial) {
      const gpio = new Gpio(line, initial ? 'high' : 'low');
      return {
        read: () => gpio.read(),
        write: (value) => gpio.write(value === 1 ? 1 : 0),
        watch: () => undefined,
        release: () => gpio.unexport(),
      };
    },
  };
}

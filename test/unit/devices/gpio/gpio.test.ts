import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  bcmToLine,
  Debouncer,
  FakeGpio,
  GpioMappingError,
  KioskGpio,
  readGpioChips,
  writeFakeSysfs,
} from '../../../../devices/gpio/index.js';

/** /sys/class/gpio of a Raspberry Pi 4 on Raspberry Pi OS Bookworm (kernel 6.6). */
const PI4_KERNEL_66 = [
  { name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
  { name: 'gpiochip570', base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
];
/** the same board on an older kernel: base 0 */
const PI4_KERNEL_61 = [
  { name: 'gpiochip0', base: 0, ngpio: 58, label: 'pinctrl-bcm2711' },
  { name: 'gpiochip504', base: 504, ngpio: 8, label: 'raspberrypi-exp-gpio' },
];

function sysfs(chips: typeof PI4_KERNEL_66): string {
  const root = mkdtempSync(join(tmpdir(), 'sysfs-gpio-'));
  writeFakeSysfs(root, chips);
  return root;
}

describe('BCM → kernel line mapping', () => {
  it('reads the chips from a sysfs tree and offsets by the header chip base', async () => {
    const chips = await readGpioChips(sysfs(PI4_KERNEL_66));
    expect(bcmToLine(17, chips)).toBe(529);
    expect(bcmToLine(17, await readGpioChips(sysfs(PI4_KERNEL_61)))).toBe(17);
    expect(bcmToLine(4, [{ name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' }])).toBe(575);
  });

  it('refuses non-header pins and machines without a Pi GPIO chip', () => {
    expect(() => bcmToLine(28, PI4_KERNEL_66)).toThrow(GpioMappingError);
    expect(() => bcmToLine(3, [{ name: 'gpiochip0', base: 0, ngpio: 32, label: 'other' }])).toThrow(
      GpioMappingError,
    );
  });
});

describe('debouncing', () => {
  afterEach(() => vi.useRealTimers());

  it('accepts a level only after it stayed stable', () => {
    vi.useFakeTimers();
    const changes: number[] = [];
    const debouncer = new Debouncer(0, 20, (value) => changes.push(value));
    for (const value of [1, 0, 1, 0, 1]) {
      debouncer.sample(value);
      vi.advanceTimersByTime(5);
    }
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(20);
    expect(changes).toEqual([1]);
    debouncer.sample(0);
    vi.advanceTimersByTime(10);
    debouncer.sample(1); // bounced back before settling: no change
    vi.advanceTimersByTime(50);
    expect(changes).toEqual([1]);
  });
});

describe('kiosk GPIO over the fake backend', () => {
  afterEach(() => vi.useRealTimers());

  it('maps, debounces inputs, drives the lock relay and LEDs', async () => {
    const fake = new FakeGpio();
    const gpio = new KioskGpio(
      {
        inputs: { tamper: { bcm: 17, activeLow: true }, presence: { bcm: 27 } },
        doorLock: { bcm: 22 },
        leds: { ready: 5 },
        debounceMs: 20,
      },
      async () => fake,
      sysfs(PI4_KERNEL_66),
    );
    fake.set(529, 1); // tamper contact closed (active-low: not triggered)
    await gpio.start();
    expect(gpio.health).toBe('ok');
    expect([...fake.exported].sort()).toEqual([517, 529, 534, 539]);
    expect(gpio.isActive('tamper')).toBe(false);
    expect(fake.value(534)).toBe(0); // lock relay starts released (locked)
    vi.useFakeTimers();
    const events: Array<[string, boolean]> = [];
    gpio.on('input', (name, active) => events.push([name, active]));
    fake.set(529, 0);
    fake.set(529, 1);
    fake.set(529, 0);
    vi.advanceTimersByTime(25);
    expect(events).toEqual([['tamper', true]]);
    await gpio.setDoorUnlocked(true);
    expect(fake.value(534)).toBe(1);
    await gpio.setLed('ready', true);
    expect(fake.value(517)).toBe(1);
    await gpio.stop();
    expect(fake.exported.size).toBe(0);
  });

  it('reports missing (and keeps the runtime going) where there is no GPIO', async () => {
    const gpio = new KioskGpio({ inputs: {}, leds: {}, debounceMs: 20 }, async () => ({
      ...new FakeGpio(),
      accessible: false,
      input: () => {
        throw new Error('unreachable');
      },
      output: () => {
        throw new Error('unreachable');
      },
    }));
    await gpio.start();
    expect(gpio.health).toBe('missing');
    expect(gpio.healthDetail).toMatch(/no GPIO/);
  });
});

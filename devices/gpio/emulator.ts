import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpioBackend, GpioLine } from './driver.js';
import type { GpioChip } from './protocol.js';

/**
 * The GPIO stand-in for tests and the demo: lines held in memory, inputs driven by `set()`
 * (a bouncing contact is a few quick `set()` calls). No real pin is touched.
 */
export class FakeGpio implements GpioBackend {
  readonly accessible = true;
  private readonly values = new Map<number, number>();
  private readonly watchers = new Map<number, Set<(value: number) => void>>();
  readonly exported = new Set<number>();

  value(line: number): number | undefined {
    return this.values.get(line);
  }

  /** The outside world changes an input line. */
  set(line: number, value: number): void {
    this.values.set(line, value);
    for (const listener of this.watchers.get(line) ?? []) listener(value);
  }

  private line(line: number): GpioLine {
    this.exported.add(line);
    return {
      read: async () => this.values.get(line) ?? 0,
      write: async (value) => void this.values.set(line, value),
      watch: (listener) => {
        const set = this.watchers.get(line) ?? new Set();
        set.add(listener);
        this.watchers.set(line, set);
      },
      release: () => {
        this.exported.delete(line);
        this.watchers.delete(line);
      },
    };
  }

  input(line: number): GpioLine {
    return this.line(line);
  }

  output(line: number, initial: number): GpioLine {
    this.values.set(line, initial);
    return this.line(line);
  }
}

/** Writes a fake /sys/class/gpio tree (gpiochipN/{base,ngpio,label}) under `root`. */
export function writeFakeSysfs(root: string, chips: readonly GpioChip[]): void {
  for (const chip of chips) {
    const dir = join(root, chip.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'base'), `${chip.base}\n`);
    writeFileSync(join(dir, 'ngpio'), `${chip.ngpio}\n`);
    writeFileSync(join(dir, 'label'), `${chip.label}\n`);
  }
}

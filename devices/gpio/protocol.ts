/**
 * BCM pin numbers → the kernel's GPIO line numbers, and debouncing. Pure logic, no I/O.
 *
 * The sysfs GPIO interface (which onoff uses) numbers lines globally: line = chip base + offset.
 * Older Raspberry Pi kernels gave the SoC's GPIO chip base 0, so BCM n was line n; since kernel
 * 6.6 (Raspberry Pi OS Bookworm) bases are allocated dynamically from 512, so BCM 17 is line 529.
 * The chip is recognised by its label: pinctrl-bcm2835 (Pi 1–3, Zero), pinctrl-bcm2711 (Pi 4),
 * pinctrl-rp1 (Pi 5, whose header GPIOs live on the RP1 south bridge).
 */

export interface GpioChip {
  /** e.g. "gpiochip512" */
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

export const PI_HEADER_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;
/** BCM 0–27 are on the 40-pin header */
export const MAX_HEADER_BCM = 27;

export class GpioMappingError extends Error {
  override readonly name = 'GpioMappingError';
}

/** The chip that carries the 40-pin header's GPIOs. */
export function headerChip(chips: readonly GpioChip[]): GpioChip {
  for (const label of PI_HEADER_CHIP_LABELS) {
    const chip = chips.find((candidate) => candidate.label === label);
    if (chip) return chip;
  }
  throw new GpioMappingError(
    `no Raspberry Pi GPIO chip among ${chips.map((c) => `${c.name} (${c.label})`).join(', ') || 'none'}`,
  );
}

export function bcmToLine(bcm: number, chips: readonly GpioChip[]): number {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm > MAX_HEADER_BCM)
    throw new GpioMappingError(`BCM ${bcm} is not a header GPIO (0–${MAX_HEADER_BCM})`);
  const chip = headerChip(chips);
  if (bcm >= chip.ngpio) throw new GpioMappingError(`BCM ${bcm} beyond ${chip.name} (${chip.ngpio} lines)`);
  return chip.base + bcm;
}

/**
 * Debounces a bouncing contact: a new level is accepted only after it stayed the same for
 * `stableMs`. Timers are injected so the logic is testable with fake timers.
 */
export class Debouncer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: number | undefined;

  constructor(
    private stable: number | undefined,
    private readonly stableMs: number,
    private readonly onChange: (value: number) => void,
  ) {}

  get value(): number | undefined {
    return this.stable;
  }

  /** A raw edge from the line. */
  sample(value: number): void {
    if (value === this.pending) return;
    clearTimeout(this.timer);
    this.pending = value;
    if (value === this.stable) {
      this.pending = undefined;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pending = undefined;
      this.stable = value;
      this.onChange(value);
    }, this.stableMs);
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

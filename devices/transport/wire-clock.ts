/**
 * Ptys ignore the baud rate: bytes cross them at memory speed. Emulators therefore impose the
 * UART's timing themselves with this clock: 8N1 = 10 bit times per byte. Each direction is a line
 * that carries one byte at a time; `arrive` says when a received chunk would have finished
 * arriving, `departure` when a sent one would have.
 */
export class WireClock {
  private rxFreeAt = 0;
  private txFreeAt = 0;
  private rate: number;

  constructor(baudRate: number) {
    this.rate = baudRate;
  }

  get baudRate(): number {
    return this.rate;
  }

  get byteMs(): number {
    return 10_000 / this.rate;
  }

  /** A device that changes its UART speed (e.g. the R30x's SetSysPara) retunes its clock. */
  retune(baudRate: number): void {
    this.rate = baudRate;
  }

  static wireMs(bytes: number, baudRate: number): number {
    return (bytes * 10_000) / baudRate;
  }

  /** Marks `bytes` received now; returns the time (performance.now) their last byte would land. */
  arrive(bytes: number, now = performance.now()): number {
    this.rxFreeAt = Math.max(now, this.rxFreeAt) + bytes * this.byteMs;
    return this.rxFreeAt;
  }

  /** Reserves the outgoing line for `bytes` not before `notBefore`; returns when they have all left. */
  departure(bytes: number, notBefore = performance.now()): number {
    this.txFreeAt = Math.max(notBefore, this.txFreeAt) + bytes * this.byteMs;
    return this.txFreeAt;
  }

  reset(): void {
    this.rxFreeAt = 0;
    this.txFreeAt = 0;
  }
}

/** Resolves at a `performance.now()` time (setTimeout's granularity is ~1 ms). */
export function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

/** One chunk seen at the emulator's end of a pty: `at` is `performance.now()` when it crossed. */
export interface WireEvent {
  direction: 'rx' | 'tx';
  at: number;
  bytes: Buffer;
}

export type WireTap = (event: WireEvent) => void;

const taps = new Map<string, WireTap>();

/**
 * Benchmarks timestamp the bytes where they cross the pty on the device's side: the emulator port
 * opened at `path` reports every chunk it reads (rx) and every chunk it hands to the pty (tx).
 * Returns the detach function. Costs nothing when no tap is attached.
 */
export function tapWire(path: string, tap: WireTap): () => void {
  taps.set(path, tap);
  return () => {
    if (taps.get(path) === tap) taps.delete(path);
  };
}

export function wireTapFor(path: string): WireTap | undefined {
  return taps.size === 0 ? undefined : taps.get(path);
}

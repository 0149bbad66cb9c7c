/**
 * Ptys ignore the baud rate: bytes cross them at memory speed. Emulators therefore impose the
 * UART's timing themselves with this clock: 8N1 = 10 bit times per byte. Each direction is a line
 * that carries one byte at a time; `arrive` says when a received chunk would have finished
 * arriving, `departure` when a sent one would have.
 */
export class WireClock {
  private rxFreeAt = 0;
  private txFreeAt = 0;
  readonly byteMs: number;

  constructor(readonly baudRate: number) {
    this.byteMs = 10_000 / baudRate;
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

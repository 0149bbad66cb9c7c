import { DeviceCanceled, DeviceDisconnected, DeviceTimeout } from './errors.js';
import type { SerialConnection } from './serial.js';

/** A streaming decoder that does not care where chunks split (STYLE.md practice 1). */
export interface FrameDecoder<F> {
  push(chunk: Uint8Array): F[];
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Decides whether a received frame answers the pending request: `undefined` = not (yet) — keep
 * waiting (multi-frame replies keep their own state in the closure); a value = the answer.
 */
export type ReplyMatcher<F, T> = (frame: F) => T | undefined;

interface Pending<F> {
  offer(frame: F): void;
  fail(error: Error): void;
}

/**
 * One request at a time over a SerialConnection: writes the request, feeds decoded frames to the
 * reply matcher, and settles with the answer or a typed error —
 * - `DeviceTimeout` when no complete answer came within `timeoutMs`;
 * - `DeviceCanceled` when the caller's AbortSignal fired or the channel was closed;
 * - `DeviceDisconnected` when the port was gone or went away while waiting.
 * After `degradeAfter` timeouts in a row the connection's health becomes `degraded`; the next
 * answer makes it `ok` again. Frames nobody waits for go to `onUnsolicited`.
 */
/** Silence after a late answer's last frame that marks its end (a 139-byte R30x data packet takes 24 ms at 57600 baud). */
const LATE_ANSWER_QUIET_MS = 50;
/** How long a reply is still expected after its request timed out. */
const LATE_AFTER_TIMEOUT_MS = 300;

export class RequestChannel<F> {
  private decoder: FrameDecoder<F>;
  private pending: Pending<F> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private consecutiveTimeouts = 0;
  /**
   * After a request is abandoned (timeout, cancel) its answer may still come: until this time
   * (epoch ms), frames nobody waits for are that late answer and are dropped, and the next request
   * is held back until it has come and the line is quiet again. Request/response protocols without
   * a sequence number (R30x, ESC/POS status) cannot tell a late answer from the next one otherwise.
   */
  private abandonedUntil = 0;
  private lastLateFrameAt = 0;

  constructor(
    private readonly connection: SerialConnection,
    private readonly makeDecoder: () => FrameDecoder<F>,
    private readonly options: {
      defaultTimeoutMs: number;
      degradeAfter?: number;
      onUnsolicited?: (frame: F) => void;
    },
  ) {
    this.decoder = makeDecoder();
    connection.on('data', (chunk) => {
      for (const frame of this.decoder.push(chunk)) {
        if (this.pending) this.pending.offer(frame);
        else if (Date.now() < this.abandonedUntil) this.lastLateFrameAt = Date.now();
        else this.options.onUnsolicited?.(frame);
      }
    });
    connection.on('health', (health, detail) => {
      if (health !== 'missing') return;
      // Bytes from before an unplug must not be glued to the next device's first frame.
      this.decoder = this.makeDecoder();
      this.pending?.fail(new DeviceDisconnected(this.device, detail ?? 'port lost'));
    });
  }

  private get device(): string {
    return this.connection.options.device;
  }

  /** Queues the exchange behind any running one; requests never interleave on the wire. */
  request<T>(
    payload: Buffer | readonly Buffer[],
    matcher: ReplyMatcher<F, T>,
    options: RequestOptions = {},
  ): Promise<T> {
    const start = async () => {
      await this.drainAbandoned();
      return this.exchange(payload, matcher, options);
    };
    const run = this.queue.then(start, start);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private exchange<T>(
    payload: Buffer | readonly Buffer[],
    matcher: ReplyMatcher<F, T>,
    { timeoutMs = this.options.defaultTimeoutMs, signal }: RequestOptions,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(new DeviceCanceled(this.device, 'aborted before sending'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.consecutiveTimeouts++;
        if (this.consecutiveTimeouts >= (this.options.degradeAfter ?? 3))
          this.connection.reportResponsive(false, `${this.consecutiveTimeouts} requests unanswered`);
        settle(new DeviceTimeout(this.device, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (error: Error | undefined, value?: T) => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        // The device may still answer an abandoned request: a cancelled one within its own time, a
        // timed-out one (rarely) a little later. Its answer must not be read as the next one's.
        if (error instanceof DeviceCanceled) this.abandon(timeoutMs);
        else if (error instanceof DeviceTimeout) this.abandon(Math.min(timeoutMs, LATE_AFTER_TIMEOUT_MS));
        else if (error && !(error instanceof DeviceDisconnected)) this.abandon(timeoutMs);
        if (error) reject(error);
        else resolve(value as T);
      };
      const onAbort = () => settle(new DeviceCanceled(this.device, 'aborted by the caller'));
      const pending: Pending<F> = {
        offer: (frame) => {
          let answer: T | undefined;
          try {
            answer = matcher(frame);
          } catch (error) {
            settle(error as Error);
            return;
          }
          if (answer === undefined) return;
          this.consecutiveTimeouts = 0;
          this.connection.reportResponsive(true);
          settle(undefined, answer);
        },
        fail: (error) => settle(error),
      };
      this.pending = pending;
      signal?.addEventListener('abort', onAbort, { once: true });
      const parts = Buffer.isBuffer(payload) ? [payload] : payload;
      void (async () => {
        try {
          for (const part of parts) await this.connection.write(part);
        } catch (error) {
          settle(error as Error);
        }
      })();
    });
  }

  private abandon(forMs: number): void {
    this.abandonedUntil = Math.max(this.abandonedUntil, Date.now() + forMs);
    this.lastLateFrameAt = 0;
  }

  /** Waits out the answer to an abandoned request: until it came and the line is quiet, or its time is up. */
  private async drainAbandoned(): Promise<void> {
    while (Date.now() < this.abandonedUntil) {
      if (this.lastLateFrameAt > 0 && Date.now() - this.lastLateFrameAt >= LATE_ANSWER_QUIET_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.abandonedUntil = 0;
    this.lastLateFrameAt = 0;
  }

  /** Queues bytes that get no answer (e.g. data packets after an acknowledged command). */
  send(payload: Buffer | readonly Buffer[]): Promise<void> {
    const parts = Buffer.isBuffer(payload) ? [payload] : payload;
    const write = async () => {
      for (const part of parts) await this.connection.write(part);
    };
    const run = this.queue.then(write, write);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Fails a waiting request (the driver is stopping). */
  cancel(): void {
    this.pending?.fail(new DeviceCanceled(this.device, 'driver stopped'));
  }
}

import type { Logger } from './log.js';

export type HealthState = 'up' | 'degraded' | 'down' | 'starting' | 'stopped';

export interface Health {
  state: HealthState;
  /** short, PII-free reason or detail for operators */
  detail?: string;
  /** sub-parts, e.g. each device of the device manager */
  parts?: Record<string, Health>;
}

/**
 * A subsystem with a life: started in order by `Lifecycle`, stopped in reverse. `start` may be
 * cancelled through its signal (a stop requested while starting); `stop` must not throw for a
 * subsystem that never started and must finish quickly: the whole runtime has 3 s on SIGTERM.
 */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  health(): Health;
}

export class StartupAborted extends Error {
  override readonly name = 'StartupAborted';
}

/** Runs services in order; a failed start stops what had started, in reverse, and rethrows. */
export class Lifecycle {
  private readonly started: Service[] = [];
  private readonly abort = new AbortController();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly services: readonly Service[],
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    for (const service of this.services) {
      if (this.abort.signal.aborted) throw new StartupAborted('start-up cancelled');
      const began = performance.now();
      try {
        await service.start(this.abort.signal);
      } catch (error) {
        this.log.error({ err: error, service: service.name }, 'service failed to start');
        await this.stop();
        throw error;
      }
      this.started.push(service);
      this.log.debug({ service: service.name, ms: Math.round(performance.now() - began) }, 'service started');
    }
  }

  /** Idempotent; each service's stop is isolated so one failure does not strand the rest. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      for (const service of [...this.started].reverse()) {
        try {
          await service.stop();
          this.log.debug({ service: service.name }, 'service stopped');
        } catch (error) {
          this.log.error({ err: error, service: service.name }, 'service failed to stop cleanly');
        }
      }
      this.started.length = 0;
    })();
    return this.stopping;
  }

  health(): Record<string, Health> {
    const parts: Record<string, Health> = {};
    for (const service of this.services) {
      parts[service.name] = this.started.includes(service) ? service.health() : { state: 'stopped' };
    }
    return parts;
  }
}

/** Resolves after `ms`, or rejects with StartupAborted as soon as `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new StartupAborted('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StartupAborted('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

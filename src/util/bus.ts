import type { Logger } from './log.js';

/**
 * A typed in-process event bus. Library events (serialport, mqtt, johnny-five) are translated
 * into these events at the edge; rooms talk to each other only through here and through the
 * interfaces `main.ts` hands them. Subscriptions are keyed by owner so a subsystem removes all
 * of its listeners in `stop()`; a throwing listener is logged and never reaches the emitter.
 */
export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<
    keyof Events,
    Array<{ owner: string; handler: (payload: never) => void }>
  >();

  constructor(private readonly log: Logger) {}

  on<K extends keyof Events>(
    owner: string,
    event: K,
    handler: (payload: Events[K]) => void | Promise<void>,
  ): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ owner, handler: handler as (payload: never) => void });
    this.listeners.set(event, list);
  }

  off(owner: string): void {
    for (const [event, list] of this.listeners) {
      const kept = list.filter((entry) => entry.owner !== owner);
      if (kept.length === 0) this.listeners.delete(event);
      else this.listeners.set(event, kept);
    }
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const { owner, handler } of this.listeners.get(event) ?? []) {
      try {
        const result = (handler as (payload: Events[K]) => unknown)(payload);
        if (result instanceof Promise) {
          result.catch((error: unknown) => this.report(owner, event, error));
        }
      } catch (error) {
        this.report(owner, event, error);
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  private report(owner: string, event: keyof Events, error: unknown): void {
    this.log.error({ err: error, owner, event: String(event) }, 'event listener failed');
  }
}

/**
 * Restarts that wait for the citizen: a setting that only takes effect at start (schema mark
 * `restart: true`) is applied by restarting the kiosk, never in the middle of a session. The
 * pending restart is recorded before it is performed (the fleet room commits the config and its
 * pending acknowledgement, then announces `config.restartPending`); the restart itself is the
 * runtime's `fleet.restart`: `kiosk start` stops and exits with EXIT_RESTART_REQUESTED for systemd
 * (deploy/systemd/cccd-kiosk.service, Restart=always) to start it again, `kiosk demo`'s supervisor
 * rebuilds the runtime in place (src/demo/demo.ts). The next start builds everything from the
 * stored configuration, and the fleet room acknowledges the config as applied.
 */
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Logger } from '../util/log.js';

/** Whether a citizen session is in progress, and a way to hear when that changes. */
export interface IdleSource {
  readonly idle: boolean;
  /** called on every change of the session's screen; returns the unsubscribe */
  subscribe(listener: () => void): () => void;
}

/** Resolves at once between sessions, else when the session in progress has ended. */
export function whenIdle(sessions: IdleSource): Promise<void> {
  if (sessions.idle) return Promise.resolve();
  return new Promise((resolve) => {
    const unsubscribe = sessions.subscribe(() => {
      if (!sessions.idle) return;
      unsubscribe();
      resolve();
    });
  });
}

export interface RestartAtIdleOptions {
  sessions: IdleSource;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
}

/** Listens for `config.restartPending` and emits `fleet.restart` once no session is in progress. */
export class RestartAtIdle {
  private readonly waiting = new Set<string>();
  private requested = false;
  private stopped = false;

  constructor(private readonly options: RestartAtIdleOptions) {
    options.bus.on('restart', 'config.restartPending', ({ paths }) => this.request(paths));
  }

  /** Settings waiting for this restart (diagnostics). */
  get pending(): string[] {
    return [...this.waiting];
  }

  request(paths: readonly string[]): void {
    for (const path of paths) this.waiting.add(path);
    if (this.requested || this.stopped) return;
    this.requested = true;
    const { sessions, log } = this.options;
    if (!sessions.idle)
      log.info({ settings: paths }, 'restart for pushed settings waits for the session to end');
    void whenIdle(sessions).then(() => {
      if (this.stopped) return;
      log.warn({ settings: this.pending }, 'restarting at idle: pushed settings take effect at start');
      this.options.bus.emit('fleet.restart', { by: 'config' });
    });
  }

  stop(): void {
    this.stopped = true;
    this.options.bus.off('restart');
  }
}

/** What an in-process supervisor needs of a runtime. */
export interface SupervisedRuntime {
  readonly bus: EventBus<RuntimeEvents>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The demo's supervisor (`kiosk demo` runs the kiosk in its own process, beside the rig): where
 * `kiosk start` exits for systemd on `fleet.restart`, the demo stops the runtime and builds a new
 * one from the stored configuration (`build` layers the pushed settings on the file's), as a
 * restarted process would. `onRuntime` hears of each runtime (the demo's signal handler stops the
 * current one). Resolves once the first runtime started.
 */
export async function superviseInProcess<R extends SupervisedRuntime>(
  build: () => Promise<R>,
  onRuntime: (runtime: R) => void,
  log: Logger,
): Promise<R> {
  let restarting = false;
  const run = async (): Promise<R> => {
    const runtime = await build();
    onRuntime(runtime);
    runtime.bus.on('supervisor', 'fleet.restart', ({ by }) => {
      if (restarting) return;
      restarting = true;
      log.warn({ by }, 'supervisor: restarting the kiosk runtime');
      void runtime
        .stop()
        .then(run)
        .catch((error: unknown) => log.error({ err: error }, 'supervisor: restart failed'))
        .finally(() => {
          restarting = false;
        });
    });
    await runtime.start();
    return runtime;
  };
  return run();
}

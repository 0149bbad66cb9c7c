import type { Logger } from '../util/log.js';

/**
 * Runs `stop` on SIGINT/SIGTERM within `deadlineMs` and exits 0 (1 if the deadline passed); a
 * second signal exits at once. An uncaught error is logged and exits 1 after a bounded stop.
 */
export function exitOnSignals(stop: () => Promise<void>, log: Logger, deadlineMs: number): void {
  let stoppingSince: number | undefined;
  const shutdown = (reason: string, code: number) => {
    if (stoppingSince !== undefined) {
      // `npm start` forwards the terminal's Ctrl-C that we also received: one press, two signals.
      if (performance.now() - stoppingSince < 500) return;
      log.warn({ reason }, 'second signal: exiting now');
      process.exit(130);
    }
    stoppingSince = performance.now();
    log.info({ reason }, 'stopping');
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'stop did not finish in time; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(code);
      },
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception');
    shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (error) => {
    log.fatal({ err: error }, 'unhandled promise rejection');
    shutdown('unhandledRejection', 1);
  });
}

/** Exit status after an operations `restart` (EX_TEMPFAIL, sysexits.h): systemd restarts the unit. */
export const EXIT_RESTART_REQUESTED = 75;

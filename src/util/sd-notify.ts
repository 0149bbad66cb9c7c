/**
 * systemd service notifications (sd_notify(3)): READY=1 when the runtime has started, WATCHDOG=1
 * while its event loop turns, STOPPING=1 on the way down. Without NOTIFY_SOCKET (not started by
 * systemd with Type=notify) every call is a no-op.
 *
 * The message is a datagram on the AF_UNIX socket named by NOTIFY_SOCKET; node:dgram has no unix
 * datagram sockets and the npm packages that add them (unix-dgram, sd-notify) are native addons
 * that need a compiler and libsystemd headers at install time on the Pi. `systemd-notify` ships
 * with systemd on every target: since systemd 246 it waits until the manager has processed the
 * message (a barrier; `--no-block` turns it off), so the sender exiting first no longer loses it.
 * It is a child process, so the unit says NotifyAccess=all (deploy/systemd/cccd-kiosk.service).
 */
import { execFile } from 'node:child_process';

export type NotifyRunner = (args: string[]) => Promise<void>;

const systemdNotify = (args: string[], env: NodeJS.ProcessEnv): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', args, { timeout: 10_000, env }, (error) =>
      error ? reject(error) : resolve(),
    );
  });

export class SystemdNotifier {
  private watchdogTimer: NodeJS.Timeout | undefined;
  private readonly enabled: boolean;
  /** half the watchdog period (sd_watchdog_enabled(3) recommends pinging at half), or undefined */
  readonly watchdogIntervalMs: number | undefined;

  private readonly runner: NotifyRunner;

  constructor(
    env: NodeJS.ProcessEnv = process.env,
    runner?: NotifyRunner,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {
    this.runner = runner ?? ((args) => systemdNotify(args, env));
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID, when set, names the process the watchdog is meant for (sd_watchdog_enabled(3))
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogIntervalMs =
      this.enabled && forUs && Number.isFinite(usec) && usec > 0
        ? Math.max(1, Math.floor(usec / 2000))
        : undefined;
  }

  get active(): boolean {
    return this.enabled;
  }

  private send(args: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return this.runner(args).catch((error: unknown) => this.onError(error as Error));
  }

  /** READY=1 (with a status line), then the watchdog pings if the unit has WatchdogSec. */
  async ready(status: string): Promise<void> {
    await this.send(['--ready', `--status=${status}`]);
    if (this.watchdogIntervalMs === undefined || this.watchdogTimer) return;
    // A ping from a timer proves the event loop is not stuck; a blocked loop misses it and
    // systemd restarts the service (Restart=always).
    this.watchdogTimer = setInterval(() => void this.send(['WATCHDOG=1']), this.watchdogIntervalMs);
    this.watchdogTimer.unref();
  }

  async stopping(): Promise<void> {
    clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    await this.send(['STOPPING=1']);
  }
}

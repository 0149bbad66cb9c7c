/**
 * A release a technician installed while the kiosk runs (`kiosk update` without --now, as root):
 * the command verified it and unpacked it into `releases/<version>`, and left `update/pending`.
 * The running kiosk sees that file, waits for the session in progress to end and restarts
 * (`fleet.restart`); deploy/release-guard.sh switches `current` to the release before the next
 * start, which then runs on probation like any other.
 *
 * Only a request made while this process runs is acted on: one that was already there at start
 * was not switched by the guard (a start outside the deployed unit, or a release that is not
 * installed), and restarting for it would loop. That case is logged once.
 */
import { join } from 'node:path';
import { type IdleSource, whenIdle } from '../runtime/restart.js';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Logger } from '../util/log.js';
import { pathExists } from '../util/path-exists.js';
import { pendingSwitch, releasesDir } from './releases.js';

/** How often update/pending is looked at: a technician waits at most this long for the switch to begin. */
export const INSTALLED_RELEASE_POLL_MS = 5_000;

export interface InstalledReleaseWatchOptions {
  installRoot: string;
  /** the version this process runs */
  running: string;
  sessions: IdleSource;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  pollMs?: number;
}

export class InstalledReleaseWatch {
  private timer: NodeJS.Timeout | undefined;
  private ignored: string | undefined;
  private switching = false;

  constructor(private readonly options: InstalledReleaseWatchOptions) {}

  async start(): Promise<void> {
    const atStart = await this.installedRequest();
    if (atStart !== undefined) {
      this.ignored = atStart;
      this.options.log.warn(
        { version: atStart },
        'update: update/pending names a release this start did not switch to (is the service run by ' +
          'the deployed unit with release-guard.sh?); not restarting for it',
      );
    }
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? INSTALLED_RELEASE_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The version update/pending names, when it is not the running one and is installed. */
  private async installedRequest(): Promise<string | undefined> {
    const { installRoot, running } = this.options;
    const version = await pendingSwitch(installRoot).catch(() => undefined);
    if (version === undefined || version === running) return undefined;
    const installed = await pathExists(join(releasesDir(installRoot), version, 'manifest.json'));
    return installed ? version : undefined;
  }

  /**
   * Looks at update/pending once (the timer calls this); resolves once it decided, and a switch it
   * decided on waits for idle on its own.
   */
  async poll(): Promise<void> {
    if (this.switching || this.timer === undefined) return;
    const version = await this.installedRequest();
    if (version === undefined || version === this.ignored || this.switching) return;
    this.switching = true;
    this.options.log.info({ version }, 'update: a technician installed a release; switching at idle');
    void this.restartAtIdle(version);
  }

  private async restartAtIdle(version: string): Promise<void> {
    await whenIdle(this.options.sessions);
    if (this.timer === undefined) return;
    this.options.log.warn({ version }, 'update: restarting at idle to switch releases');
    this.options.bus.emit('fleet.restart', { by: 'software' });
  }
}

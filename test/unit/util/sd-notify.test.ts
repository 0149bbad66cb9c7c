import { afterEach, describe, expect, it, vi } from 'vitest';
import { SystemdNotifier } from '../../../src/util/sd-notify.js';

describe('SystemdNotifier', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does nothing outside systemd (no NOTIFY_SOCKET)', async () => {
    const sent: string[][] = [];
    const notifier = new SystemdNotifier({ WATCHDOG_USEC: '30000000' }, async (args) => void sent.push(args));
    await notifier.ready('up');
    await notifier.stopping();
    expect(notifier.active).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('sends READY=1 with a status, then WATCHDOG=1 every half watchdog period, STOPPING=1 ends it', async () => {
    vi.useFakeTimers();
    const sent: string[][] = [];
    const notifier = new SystemdNotifier(
      { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' },
      async (args) => void sent.push(args),
    );
    expect(notifier.watchdogIntervalMs).toBe(15_000);
    await notifier.ready('kiosk hn-0001 running');
    expect(sent).toEqual([['--ready', '--status=kiosk hn-0001 running']]);
    await vi.advanceTimersByTimeAsync(45_000);
    expect(sent.slice(1)).toEqual([['WATCHDOG=1'], ['WATCHDOG=1'], ['WATCHDOG=1']]);
    await notifier.stopping();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent.slice(4)).toEqual([['STOPPING=1']]);
  });

  it('no watchdog pings when the watchdog is meant for another process (WATCHDOG_PID)', () => {
    const notifier = new SystemdNotifier(
      {
        NOTIFY_SOCKET: '/run/systemd/notify',
        WATCHDOG_USEC: '30000000',
        WATCHDOG_PID: String(process.pid + 1),
      },
      async () => undefined,
    );
    expect(notifier.watchdogIntervalMs).toBeUndefined();
  });

  it('a failing notification is reported, never thrown', async () => {
    const errors: Error[] = [];
    const notifier = new SystemdNotifier(
      { NOTIFY_SOCKET: '/run/systemd/notify' },
      () => Promise.reject(new Error('systemd-notify: not found')),
      (error) => errors.push(error),
    );
    await expect(notifier.ready('up')).resolves.toBeUndefined();
    expect(errors.map((error) => error.message)).toEqual(['systemd-notify: not found']);
  });
});

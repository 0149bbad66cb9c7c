import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RestartAtIdle } from '../../../src/runtime/restart.js';
import { EXIT_RESTART_REQUESTED } from '../../../src/runtime/process.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';

/** A session that a test starts and ends (the idle source is pure logic here). */
function fakeSessions(idle: boolean) {
  const listeners = new Set<() => void>();
  return {
    idle,
    subscribe(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next: boolean) {
      this.idle = next;
      for (const listener of [...listeners]) listener();
    },
  };
}

const flush = () => new Promise((done) => setImmediate(done));

describe('restart for pushed settings waits for idle', () => {
  it('restarts at once between sessions', async () => {
    const bus = new EventBus<RuntimeEvents>(quietLogger());
    const restarts: string[] = [];
    bus.on('test', 'fleet.restart', ({ by }) => void restarts.push(by));
    const restarter = new RestartAtIdle({ sessions: fakeSessions(true), bus, log: quietLogger() });
    bus.emit('config.restartPending', { paths: ['ui.port'] });
    await flush();
    expect(restarts).toEqual(['config']);
    expect(restarter.pending).toEqual(['ui.port']);
    restarter.stop();
  });

  it('never restarts mid-session: it waits for the session to end, once for many settings', async () => {
    const bus = new EventBus<RuntimeEvents>(quietLogger());
    const restarts: string[] = [];
    bus.on('test', 'fleet.restart', ({ by }) => void restarts.push(by));
    const sessions = fakeSessions(false);
    const restarter = new RestartAtIdle({ sessions, bus, log: quietLogger() });
    bus.emit('config.restartPending', { paths: ['ui.port'] });
    bus.emit('config.restartPending', { paths: ['store.outboxWindow'] });
    sessions.set(false); // the screen changes within the session
    await flush();
    expect(restarts).toEqual([]);
    sessions.set(true);
    await flush();
    expect(restarts).toEqual(['config']);
    expect(restarter.pending.sort()).toEqual(['store.outboxWindow', 'ui.port']);
    restarter.stop();
  });

  it('exits with a status systemd restarts (deploy/systemd/cccd-kiosk.service)', () => {
    const unit = readFileSync(new URL('../../../deploy/systemd/cccd-kiosk.service', import.meta.url), 'utf8');
    const setting = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1]?.trim();
    // Restart=always restarts on any exit; on-failure on any non-zero status, as 75 is
    expect(['always', 'on-failure']).toContain(setting('Restart'));
    expect(EXIT_RESTART_REQUESTED).not.toBe(0);
    const prevented = (setting('RestartPreventExitStatus') ?? '').split(/\s+/);
    expect(prevented).not.toContain(String(EXIT_RESTART_REQUESTED));
    expect(prevented).not.toContain('TEMPFAIL');
  });
});

import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../src/util/bus.js';
import { type Health, Lifecycle, type Service } from '../../../src/util/lifecycle.js';
import { capturingLogger } from '../../helpers/logs.js';

function recorder(name: string, journal: string[], failStart = false, failStop = false): Service {
  return {
    name,
    async start() {
      journal.push(`start ${name}`);
      if (failStart) throw new Error(`${name} broke`);
    },
    async stop() {
      journal.push(`stop ${name}`);
      if (failStop) throw new Error(`${name} stuck`);
    },
    health: (): Health => ({ state: 'up' }),
  };
}

describe('lifecycle', () => {
  it('starts in order and stops in reverse', async () => {
    const journal: string[] = [];
    const lifecycle = new Lifecycle(
      [recorder('a', journal), recorder('b', journal), recorder('c', journal)],
      capturingLogger().log,
    );
    await lifecycle.start();
    await lifecycle.stop();
    expect(journal).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('stops what had started when a later service fails, and rethrows', async () => {
    const journal: string[] = [];
    const lifecycle = new Lifecycle(
      [recorder('a', journal), recorder('b', journal, true), recorder('c', journal)],
      capturingLogger().log,
    );
    await expect(lifecycle.start()).rejects.toThrow('b broke');
    expect(journal).toEqual(['start a', 'start b', 'stop a']);
  });

  it('keeps stopping the rest when one stop throws, and reports stopped parts', async () => {
    const journal: string[] = [];
    const { log, text } = capturingLogger();
    const lifecycle = new Lifecycle([recorder('a', journal), recorder('b', journal, false, true)], log);
    await lifecycle.start();
    expect(lifecycle.health()).toEqual({ a: { state: 'up' }, b: { state: 'up' } });
    await lifecycle.stop();
    expect(journal).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(text()).toContain('service failed to stop cleanly');
    expect(lifecycle.health()).toEqual({ a: { state: 'stopped' }, b: { state: 'stopped' } });
  });
});

describe('event bus', () => {
  interface Events {
    ping: { n: number };
  }

  it('delivers to listeners, isolates a throwing one, and removes by owner', () => {
    const { log, text } = capturingLogger();
    const bus = new EventBus<Events>(log);
    const seen: number[] = [];
    bus.on('bad', 'ping', () => {
      throw new Error('listener bug');
    });
    bus.on('good', 'ping', ({ n }) => void seen.push(n));
    bus.emit('ping', { n: 1 });
    expect(seen).toEqual([1]);
    expect(text()).toContain('event listener failed');
    bus.off('good');
    bus.emit('ping', { n: 2 });
    expect(seen).toEqual([1]);
    expect(bus.listenerCount('ping')).toBe(1);
  });
});

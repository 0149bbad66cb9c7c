import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../../src/util/backoff.js';
import { decodeMessage, envelope, InvalidMessage } from '../../../src/link/messages.js';
import { parseKioskTopic, topics } from '../../../src/link/topics.js';

describe('topics', () => {
  it('builds and parses kiosk topics', () => {
    expect(topics.status('hn-0001')).toBe('cccd/v1/kiosk/hn-0001/status');
    expect(parseKioskTopic('cccd/v1/kiosk/hn-0001/cmd/result')).toEqual({
      kioskId: 'hn-0001',
      leaf: 'cmd/result',
    });
    expect(parseKioskTopic('cccd/v1/kiosk/+/status')).toBeUndefined();
    expect(() => topics.status('a/#')).toThrow(/not a kiosk id/);
  });
});

describe('status messages', () => {
  it('round-trips a status envelope', () => {
    const message = envelope('kiosk.status', 'hn-0001', {
      online: true,
      version: '1.0.0',
      devices: { scanner: 'ok' },
    });
    expect(decodeMessage(JSON.stringify(message), 'kiosk.status')).toEqual(message);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['no envelope', '{"online":false}', /envelope: id: /],
    [
      'wrong type',
      JSON.stringify(envelope('kiosk.status', 'k-1', { online: true })).replace(
        'kiosk.status',
        'kiosk.other',
      ),
      /expected a kiosk.status/,
    ],
    [
      'bad body',
      JSON.stringify({ ...envelope('kiosk.status', 'k-1', { online: true }), body: { online: 'yes' } }),
      /body: online/,
    ],
  ])('rejects %s with a reason', (_label, payload, reason) => {
    expect(() => decodeMessage(payload, 'kiosk.status')).toThrow(reason);
  });

  it('never throws anything but InvalidMessage on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.uint8Array().map((bytes) => Buffer.from(bytes)),
        ),
        (payload) => {
          try {
            decodeMessage(payload, 'kiosk.status');
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidMessage);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('reconnect backoff', () => {
  it('grows exponentially, is capped, and spans the whole range (full jitter)', () => {
    const policy = { minMs: 1000, maxMs: 60_000 };
    expect(fullJitterDelay(0, policy, () => 0.999)).toBe(999);
    expect(fullJitterDelay(3, policy, () => 0.5)).toBe(4000);
    expect(fullJitterDelay(40, policy, () => 1)).toBe(60_000);
    expect(fullJitterDelay(10, policy, () => 0)).toBe(0);
  });
});

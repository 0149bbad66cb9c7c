import { describe, expect, it } from 'vitest';
import {
  hostOverheadMs,
  hostTurnsMs,
  r30xFramer,
  sysexFramer,
  type TurnMark,
} from '../../../bench/devices/wire-overhead.js';
import { fingerprintProtocol as fp, type WireEvent } from '../../../devices/index.js';

const request = (at: number): TurnMark => ({ kind: 'request', at });
const final = (at: number): TurnMark => ({ kind: 'final', at });

describe('host overhead from bytes timestamped at the device', () => {
  it('counts only the host turns: before the first request, between an answer and the next request, after the last answer', () => {
    // start 0; request at 2; device works until 100; host takes 3; device until 300; end at 301.
    const marks = [request(2), final(100), request(103), final(300)];
    expect(hostTurnsMs(marks, 0, 301)).toEqual([2, 3, 1]);
    expect(hostOverheadMs(marks, 0, 301)).toBe(6);
  });

  it('does not charge the host for requests sent while the device still had the turn', () => {
    // DownChar's data packets, then GenImg written before the device has consumed them.
    const marks = [request(1), final(10), request(11), request(12), final(400)];
    expect(hostTurnsMs(marks, 0, 402)).toEqual([1, 1, 2]);
  });

  it('a device that never sleeps or sleeps longer changes the device turns, not the host figure', () => {
    const slow = [request(1), final(1001), request(1002), final(3002)];
    const fast = [request(1), final(11), request(12), final(32)];
    expect(hostOverheadMs(slow, 0, 3004)).toBe(hostOverheadMs(fast, 0, 34));
  });

  it('frames R30x packets and Firmata sysex split at every byte, with first- and last-byte times', () => {
    const packet = fp.ack(0, [0, 5]);
    const events: WireEvent[] = [...packet].map((byte, i) => ({
      direction: 'tx',
      at: i,
      bytes: Buffer.from([byte]),
    }));
    expect(r30xFramer(events)).toEqual([{ bytes: packet, firstAt: 0, lastAt: packet.length - 1 }]);
    const sysex = Buffer.from([0x90, 0x01, 0x00, 0xf0, 0x01, 0x11, 0x05, 0x04, 0xf7]);
    const chunks: WireEvent[] = [
      { direction: 'tx', at: 5, bytes: sysex.subarray(0, 5) },
      { direction: 'tx', at: 9, bytes: sysex.subarray(5) },
    ];
    expect(sysexFramer(chunks)).toEqual([{ bytes: sysex.subarray(3), firstAt: 5, lastAt: 9 }]);
  });
});

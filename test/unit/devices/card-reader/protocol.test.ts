import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameError, encodeFrame } from '../../../../devices/card-reader/protocol.js';

describe('APDU framing (2-byte length prefix, pty and vpcd)', () => {
  const frames = [
    Buffer.from([0x04]),
    Buffer.from('00A4040C07A0000002471001', 'hex'),
    Buffer.alloc(300, 0xab),
  ];
  const stream = Buffer.concat(frames.map(encodeFrame));

  it('decodes the same frames whatever byte offset the chunks split at', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (const b of [a, Math.min(stream.length, a + 1), Math.min(stream.length, a + 7), stream.length]) {
        const decoder = new FrameDecoder();
        const out = [
          ...decoder.push(stream.subarray(0, a)),
          ...decoder.push(stream.subarray(a, b)),
          ...decoder.push(stream.subarray(b)),
        ];
        expect(out).toEqual(frames);
        expect(decoder.pending).toBe(0);
      }
    }
  });

  it('refuses a zero length and an oversized payload with FrameError', () => {
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 1]))).toThrow(FrameError);
    expect(() => encodeFrame(Buffer.alloc(0))).toThrow(FrameError);
    expect(() => encodeFrame(Buffer.alloc(70_000))).toThrow(FrameError);
  });

  it('round-trips any payloads and never throws anything but FrameError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { maxLength: 5 }),
        fc.nat(),
        (payloads, cut) => {
          const bytes = Buffer.concat(payloads.map(encodeFrame));
          const at = bytes.length === 0 ? 0 : cut % bytes.length;
          const decoder = new FrameDecoder();
          const out = [...decoder.push(bytes.subarray(0, at)), ...decoder.push(bytes.subarray(at))];
          expect(out.map((b) => Buffer.from(b))).toEqual(payloads.map((p) => Buffer.from(p)));
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        try {
          new FrameDecoder().push(garbage);
        } catch (error) {
          expect(error).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

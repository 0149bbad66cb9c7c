import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeScan, MAX_SCAN_BYTES, ScanDecoder } from '../../../../devices/scanner/protocol.js';

const QR = '001195012345|012345678|Trần Thị Mai|15031995|Nữ|Số 12 ngõ 34 Hàng Bạc, Hà Nội|10072021';

function decodeAll(chunks: Uint8Array[]) {
  const decoder = new ScanDecoder();
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

describe('scanner codec', () => {
  it('decodes a scan split at every byte offset', () => {
    const bytes = Buffer.concat([encodeScan(QR), encodeScan('second')]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const frames = decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(frames).toEqual([
        { kind: 'scan', text: QR },
        { kind: 'scan', text: 'second' },
      ]);
    }
  });

  it('accepts CR LF terminators and ignores blank lines', () => {
    expect(decodeAll([Buffer.from('abc\r\n\r\ndef\r')])).toEqual([
      { kind: 'scan', text: 'abc' },
      { kind: 'scan', text: 'def' },
    ]);
  });

  it('reports an overlong frame and resynchronises on the next CR', () => {
    const frames = decodeAll([Buffer.alloc(MAX_SCAN_BYTES + 10, 0x41), Buffer.from('\rok\r')]);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatchObject({
      kind: 'error',
      error: { reason: 'overlong', length: MAX_SCAN_BYTES + 10 },
    });
    expect(frames[1]).toEqual({ kind: 'scan', text: 'ok' });
  });

  it('rejects invalid UTF-8 and control characters with a reason', () => {
    const frames = decodeAll([Buffer.from([0xc3, 0x28, 0x0d]), Buffer.from('a\u0001b\r')]);
    expect(frames.map((frame) => (frame.kind === 'error' ? frame.error.reason : frame.text))).toEqual([
      'invalid-utf8',
      'control-characters',
    ]);
  });

  it('round-trips any text and never throws on random or mutated bytes', () => {
    const text = fc
      .string({ unit: 'grapheme', maxLength: 200 })
      .filter((s) => s.length > 0 && [...s].every((ch) => ch >= ' ' && ch !== '\u007f'));
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 5 }), (scan, cuts) => {
        const bytes = encodeScan(scan);
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let last = 0;
        for (const point of points) {
          chunks.push(bytes.subarray(last, point));
          last = point;
        }
        chunks.push(bytes.subarray(last));
        expect(decodeAll(chunks)).toEqual([{ kind: 'scan', text: scan }]);
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 8 }), (chunks) => {
        const decoder = new ScanDecoder();
        for (const chunk of chunks)
          for (const frame of decoder.push(chunk)) expect(['scan', 'error']).toContain(frame.kind);
      }),
      { numRuns: 100_000 },
    );
  });
});

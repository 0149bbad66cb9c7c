import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCp1258, encodeCp1258 } from '../../../../devices/printer/cp1258.js';
import {
  decodeStatus,
  EscPosDecoder,
  encodeReceipt,
  encodeStatus,
  isStatusByte,
  type ReceiptItem,
  StatusDecoder,
} from '../../../../devices/printer/protocol.js';
import { ReceiptAssembler } from '../../../../devices/printer/paper.js';
import { expectEverySplit, fuzzDecoder } from '../../../helpers/codec-fuzz.js';

const VIETNAMESE =
  'Cộng hoà Xã hội Chủ nghĩa Việt Nam — Độc lập, Tự do, Hạnh phúc; Phường Bến Thành, 25.000₫';

function print(bytes: Uint8Array) {
  return new ReceiptAssembler().apply(new EscPosDecoder().push(bytes));
}

describe('CP1258 for Vietnamese text', () => {
  it('round-trips Vietnamese with tone marks sent as combining bytes', () => {
    const bytes = encodeCp1258('Việt');
    // V i ê + U+0323 (dot below, 0xF2) t
    expect([...bytes]).toEqual([0x56, 0x69, 0xea, 0xf2, 0x74]);
    expect(decodeCp1258(encodeCp1258(VIETNAMESE)).normalize('NFC')).toBe(VIETNAMESE.normalize('NFC'));
    // the decoder itself does not recompose: that is the printer's business (paper.ts)
    expect(decodeCp1258(bytes)).toBe('Vie\u0302\u0323t'.normalize('NFC').replace('ệ', 'ê\u0323'));
  });

  it('round-trips every Vietnamese letter in both cases and all tones', () => {
    const bases = 'aăâeêioôơuưyAĂÂEÊIOÔƠUƯYđĐ';
    const tones = ['', '\u0300', '\u0301', '\u0303', '\u0309', '\u0323'];
    for (const base of bases)
      for (const tone of 'đĐ'.includes(base) ? [''] : tones) {
        const letter = (base + tone).normalize('NFC');
        expect(decodeCp1258(encodeCp1258(letter)).normalize('NFC')).toBe(letter);
      }
  });

  it('fuzz: 100,000 random byte strings decode without throwing and re-encode to the same text (defined bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (bytes) => {
        const text = decodeCp1258(bytes);
        // bytes CP1258 leaves undefined decode to C1 controls: those have no way back
        if (/[\u0080-\u009f\ufffd]/.test(text)) return;
        expect(decodeCp1258(encodeCp1258(text)).normalize('NFC')).toBe(text.normalize('NFC'));
      }),
      { numRuns: 100_000 },
    );
  });

  it('replaces what CP1258 cannot carry with "?"', () => {
    expect(decodeCp1258(encodeCp1258('中a'))).toBe('?a');
  });
});

describe('ESC/POS codec', () => {
  const items: ReceiptItem[] = [
    { kind: 'text', text: 'BIÊN NHẬN', bold: true, width: 2, height: 2, align: 'center' },
    { kind: 'text', text: `${VIETNAMESE}\nDòng hai` },
    { kind: 'qr', data: 'RCPT-2026-000123', align: 'center' },
    { kind: 'feed', lines: 2 },
  ];

  it('decodes an encoded receipt into its lines, styles, QR payload and cut', () => {
    const [receipt, ...rest] = print(encodeReceipt({ items }));
    expect(rest).toEqual([]);
    expect(receipt?.cut).toBe(true);
    expect(receipt?.qrCodes).toEqual(['RCPT-2026-000123']);
    expect(receipt?.lines).toMatchObject([
      { text: 'BIÊN NHẬN', bold: true, width: 2, height: 2, align: 'center' },
      { text: VIETNAMESE.normalize('NFC'), bold: false, width: 1, height: 1, align: 'left' },
      { text: 'Dòng hai', bold: false, width: 1, height: 1, align: 'left' },
    ]);
    expect(receipt?.unknownCommands).toBe(0);
  });

  it('decodes the same commands wherever the stream is split', () => {
    // A text run cut in two arrives as two text commands: compare what ends up on paper.
    const bytes = Buffer.concat([Buffer.from('x\u0001'), encodeReceipt({ items }), encodeReceipt({ items })]);
    const paper = () => {
      const decoder = new EscPosDecoder();
      const assembler = new ReceiptAssembler();
      return { push: (chunk: Uint8Array) => assembler.apply(decoder.push(chunk)) };
    };
    const expected = print(bytes);
    expect(expected).toHaveLength(2);
    expectEverySplit(paper, bytes, expected);
  });

  it('encodes and decodes DLE EOT status bytes', () => {
    for (const coverOpen of [false, true])
      for (const paperOut of [false, true])
        for (const paperNearEnd of [false, true]) {
          const status = { coverOpen, paperOut, paperNearEnd };
          const offline = encodeStatus(2, status);
          const paper = encodeStatus(4, status);
          expect(isStatusByte(offline) && isStatusByte(paper)).toBe(true);
          expect(decodeStatus(offline, paper)).toEqual(status);
        }
    expect(new StatusDecoder().push(Uint8Array.of(0x12, 0xff))).toEqual([
      { kind: 'status', byte: 0x12 },
      { kind: 'error', byte: 0xff },
    ]);
  });

  it('fuzz: 100,000 random and 100,000 mutated streams never throw; receipts round-trip', () => {
    const line = fc
      .string({
        unit: fc.constantFrom(...'abcxyz ăâêôơưđ ÀÁẠẢÃ àáạảã 0123456789.,:'.split('')),
        maxLength: 40,
      })
      .filter((s) => s.trim().length > 0 && s === s.trim());
    const receipt = fc.record({
      text: line,
      bold: fc.boolean(),
      width: fc.constantFrom(1 as const, 2 as const),
      qr: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }),
    });
    fuzzDecoder({
      makeDecoder: () => new EscPosDecoder(),
      frame: receipt,
      encode: (r) =>
        encodeReceipt({
          items: [
            { kind: 'text', text: r.text, bold: r.bold, width: r.width },
            { kind: 'qr', data: r.qr },
          ],
        }),
      decoded: (commands) =>
        new ReceiptAssembler().apply(commands).map((printed) => ({
          text: printed.lines.at(-1)?.text,
          bold: printed.lines.at(-1)?.bold,
          qr: printed.qrCodes,
        })),
      expected: (r) => ({ text: r.text.normalize('NFC'), bold: r.bold, qr: [r.qr] }),
      // printable noise (no command lead, no LF) is cleared by the next receipt's ESC @
      garbage: fc.uint8Array({ maxLength: 20, min: 0x20, max: 0x7e }),
    });
  }, 180_000);
});

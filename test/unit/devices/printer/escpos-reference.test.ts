/**
 * The printer side against the Epson ESC/POS command reference: every command taken by its real
 * length (parameters never printed), styles per character, FS / Kanji mode, tone marks composed
 * only on a printer that composes them, TCVN-3 checked against a third-party table
 * (@point-of-sale/codepage-encoder), and the shared font's glyphs telling Vietnamese apart.
 */
import CodepageEncoder from '@point-of-sale/codepage-encoder';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCp1258, encodeCp1258 } from '../../../../devices/printer/cp1258.js';
import { fontCharacters, glyphBits, readRasterText, rasterText } from '../../../../devices/printer/font.js';
import { ReceiptAssembler } from '../../../../devices/printer/paper.js';
import {
  PRINTER_PROFILE_IDS,
  PRINTER_PROFILES,
  type PrinterProfile,
} from '../../../../devices/printer/profiles.js';
import { EscPosDecoder, encodeReceipt } from '../../../../devices/printer/protocol.js';
import { TCVN3_CAPITALS, TCVN3_LOWER } from '../../../../devices/printer/tcvn3.js';

const ESC = 0x1b;
const GS = 0x1d;
const FS = 0x1c;
const DLE = 0x10;
const CUT = [GS, 0x56, 0x42, 0x00];

function paper(bytes: number[], profile: PrinterProfile = PRINTER_PROFILES['epson-wpc1258']) {
  const receipts = new ReceiptAssembler(profile).apply(new EscPosDecoder().push(Uint8Array.from(bytes)));
  expect(receipts).toHaveLength(1);
  return receipts[0]!;
}
const ascii = (text: string) => [...Buffer.from(text, 'latin1')];

/** Commands whose parameters are printable bytes, so a wrong length would put them on paper. */
const INLINE_COMMANDS: Record<string, number[]> = {
  'ESC SP n': [ESC, 0x20, 0x41],
  'ESC ! n': [ESC, 0x21, 0x00],
  'ESC $ nL nH': [ESC, 0x24, 0x41, 0x41],
  'ESC % n': [ESC, 0x25, 0x00],
  'ESC & y c1 c2 [x d]': [
    ESC,
    0x26,
    3,
    0x41,
    0x42,
    2,
    0x41,
    0x41,
    0x41,
    0x41,
    0x41,
    0x41,
    1,
    0x42,
    0x42,
    0x42,
  ],
  'ESC ( A pL pH …': [ESC, 0x28, 0x41, 4, 0, 0x30, 0x41, 0x41, 0x41],
  'ESC - n': [ESC, 0x2d, 0x30],
  'ESC 2': [ESC, 0x32],
  'ESC 3 n': [ESC, 0x33, 0x41],
  'ESC = n': [ESC, 0x3d, 0x01],
  'ESC ? n': [ESC, 0x3f, 0x41],
  'ESC D n… NUL': [ESC, 0x44, 0x41, 0x42, 0x00],
  'ESC E n': [ESC, 0x45, 0x00],
  'ESC G n': [ESC, 0x47, 0x00],
  'ESC M n': [ESC, 0x4d, 0x30],
  'ESC R n': [ESC, 0x52, 0x41],
  'ESC U n': [ESC, 0x55, 0x41],
  'ESC V n': [ESC, 0x56, 0x30],
  'ESC \\ nL nH': [ESC, 0x5c, 0x41, 0x41],
  'ESC a n': [ESC, 0x61, 0x30],
  'ESC c 3 n': [ESC, 0x63, 0x33, 0x41],
  'ESC c 4 n': [ESC, 0x63, 0x34, 0x41],
  'ESC c 5 n': [ESC, 0x63, 0x35, 0x41],
  'ESC p m t1 t2': [ESC, 0x70, 0x30, 0x41, 0x42],
  'ESC r n': [ESC, 0x72, 0x30],
  'ESC t n': [ESC, 0x74, 0x10],
  'ESC u n': [ESC, 0x75, 0x30],
  'ESC v': [ESC, 0x76],
  'ESC { n': [ESC, 0x7b, 0x30],
  'FS ! n': [FS, 0x21, 0x41],
  'FS & / FS .': [FS, 0x26, FS, 0x2e],
  'FS ( A pL pH …': [FS, 0x28, 0x41, 2, 0, 0x30, 0x41],
  'FS - n': [FS, 0x2d, 0x41],
  'FS 2 c1 c2 d1…d72': [FS, 0x32, 0x41, 0x41, ...Array<number>(72).fill(0x41)],
  'FS ? c1 c2': [FS, 0x3f, 0x41, 0x41],
  'FS C n': [FS, 0x43, 0x41],
  'FS S n1 n2': [FS, 0x53, 0x41, 0x41],
  'FS W n': [FS, 0x57, 0x41],
  'FS p n m': [FS, 0x70, 0x41, 0x41],
  'FS g 1 m a1–a4 nL nH d…': [FS, 0x67, 0x31, 0x30, 0x41, 0x41, 0x41, 0x41, 2, 0, 0x41, 0x41],
  'FS q n [xL xH yL yH d…]': [FS, 0x71, 1, 1, 0, 1, 0, ...Array<number>(8).fill(0x41)],
  'GS ! n': [GS, 0x21, 0x00],
  'GS ( L pL pH …': [GS, 0x28, 0x4c, 3, 0, 0x30, 0x41, 0x41],
  'GS ( k pL pH … (QR model)': [GS, 0x28, 0x6b, 4, 0, 0x31, 0x41, 0x32, 0x00],
  'GS ( k pL pH … (QR size)': [GS, 0x28, 0x6b, 3, 0, 0x31, 0x43, 0x41],
  'GS ( k pL pH … (QR error level)': [GS, 0x28, 0x6b, 3, 0, 0x31, 0x45, 0x31],
  'GS ( k pL pH … (QR store)': [GS, 0x28, 0x6b, 5, 0, 0x31, 0x50, 0x30, 0x41, 0x42],
  'GS * x y d…': [GS, 0x2a, 1, 1, ...Array<number>(8).fill(0x41)],
  'GS / m': [GS, 0x2f, 0x30],
  'GS 8 L p1–p4 …': [GS, 0x38, 0x4c, 2, 0, 0, 0, 0x41, 0x41],
  'GS B n': [GS, 0x42, 0x00],
  'GS H n': [GS, 0x48, 0x41],
  'GS L nL nH': [GS, 0x4c, 0x41, 0x00],
  'GS P x y': [GS, 0x50, 0x41, 0x41],
  'GS W nL nH': [GS, 0x57, 0x41, 0x02],
  'GS a n': [GS, 0x61, 0x00],
  'GS b n': [GS, 0x62, 0x41],
  'GS f n': [GS, 0x66, 0x41],
  'GS h n': [GS, 0x68, 0x41],
  'GS w n': [GS, 0x77, 0x41],
  'GS r n': [GS, 0x72, 0x31],
  'GS I n': [GS, 0x49, 0x41],
  'GS z 0 t1 t2': [GS, 0x7a, 0x30, 0x41, 0x41],
  'DLE EOT n': [DLE, 0x04, 0x01],
  'DLE EOT 7 a': [DLE, 0x04, 0x07, 0x41],
  'DLE ENQ n': [DLE, 0x05, 0x41],
  'DLE DC4 1 m t': [DLE, 0x14, 0x01, 0x00, 0x41],
  'DLE DC4 8 d1–d7': [DLE, 0x14, 0x08, 1, 3, 20, 1, 6, 2, 8],
};

describe('ESC/POS command lengths (Epson command reference)', () => {
  it.each(Object.entries(INLINE_COMMANDS))(
    '%s: skipped whole, no parameter byte printed',
    (_name, command) => {
      const printed = paper([...ascii('x'), ...command, ...ascii('y'), 0x0a, ...CUT]);
      expect(printed.lines.map((line) => line.text)).toEqual(['xy']);
      expect(printed.unknownCommands).toBe(0);
    },
  );

  it('GS V in all its forms cuts, with and without n', () => {
    for (const cut of [
      [0],
      [1],
      [48],
      [49],
      [65, 0x41],
      [66, 0x41],
      [97, 0x41],
      [98, 0x41],
      [103, 0x41],
      [104, 0x41],
    ]) {
      const printed = new ReceiptAssembler().apply(
        new EscPosDecoder().push(
          Uint8Array.from([...ascii('a\n'), GS, 0x56, ...cut, ...ascii('b\n'), ...CUT]),
        ),
      );
      expect(printed.map((receipt) => receipt.lines.map((line) => line.text))).toEqual([['a'], ['b']]);
    }
  });

  it('GS k in both forms, GS v 0 and ESC * images print what they carry and nothing as text', () => {
    const printed = paper([
      ...[GS, 0x6b, 0x04, ...ascii('CODE39'), 0x00], // form 1: NUL-terminated
      ...[GS, 0x6b, 0x49, 6, ...ascii('{BABC1')], // form 2: length-prefixed (CODE128)
      ...[GS, 0x76, 0x30, 0x00, 2, 0, 2, 0, 0x41, 0x41, 0x41, 0x41],
      ...[ESC, 0x2a, 0x21, 2, 0, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41],
      ...ascii('end\n'),
      ...CUT,
    ]);
    expect(printed.barcodes).toEqual(['CODE39', '{BABC1']);
    expect(printed.paper.filter((block) => block.kind === 'image')).toHaveLength(2);
    expect(printed.lines.map((line) => line.text)).toEqual(['end']);
  });

  it('an undefined command skips its prefix and code only, and is counted', () => {
    const printed = paper([...ascii('a'), ESC, 0x01, ...ascii('b\n'), ...CUT]);
    expect(printed.lines.map((line) => line.text)).toEqual(['ab']);
    expect(printed.unknownCommands).toBe(1);
  });

  it('fuzz: 20,000 random command streams never throw and never hang the decoder', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (chunks) => {
        const decoder = new EscPosDecoder();
        const assembler = new ReceiptAssembler(PRINTER_PROFILES['clone-tcvn3']);
        for (const chunk of chunks) assembler.apply(decoder.push(chunk));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('styles per character', () => {
  it('ESC E, ESC -, GS !, GS B and ESC ! change the characters after them, within one line', () => {
    const printed = paper([
      ...ascii('a'),
      ...[ESC, 0x45, 1],
      ...ascii('b'),
      ...[ESC, 0x45, 0, ESC, 0x2d, 2],
      ...ascii('c'),
      ...[ESC, 0x2d, 0, GS, 0x21, 0x11],
      ...ascii('d'),
      ...[GS, 0x21, 0x00, GS, 0x42, 1],
      ...ascii('e'),
      ...[GS, 0x42, 0, ESC, 0x21, 0x38],
      ...ascii('f'),
      0x0a,
      ...CUT,
    ]);
    const [line] = printed.lines;
    expect(line?.text).toBe('abcdef');
    expect(line?.spans).toMatchObject([
      { text: 'a', bold: false, underline: 0, width: 1, height: 1, invert: false },
      { text: 'b', bold: true },
      { text: 'c', bold: false, underline: 2 },
      { text: 'd', underline: 0, width: 2, height: 2 },
      { text: 'e', width: 1, height: 1, invert: true },
      { text: 'f', bold: true, width: 2, height: 2, invert: false }, // ESC ! 0x38: bold, double h+w
    ]);
    expect(line).toMatchObject({ bold: false, width: 2, height: 2 });
  });
});

describe('Vietnamese on the paper', () => {
  const viet = [0x56, 0x69, 0xea, 0xf2, 0x74, 0x0a]; // CP1258: V i ê U+0323 t

  it('a printer that composes strikes the tone mark over the letter: "Việt"', () => {
    expect(paper([ESC, 0x74, 52, ...viet, ...CUT]).lines[0]?.text).toBe('Việt');
  });

  it('a clone that prints marks apart is not recomposed: the mark has its own cell', () => {
    const printed = paper(
      [FS, 0x2e, ESC, 0x74, 27, ...viet, ...CUT],
      PRINTER_PROFILES['clone-cp1258-uncomposed'],
    );
    expect(printed.lines[0]?.text).toBe('Viê\u0323t');
    expect(printed.lines[0]?.text).not.toBe('Việt');
  });

  it('a clone in Kanji mode at power-on eats high bytes in pairs until FS . cancels it', () => {
    const tcvn = PRINTER_PROFILES['clone-tcvn3'];
    const without = paper([ESC, 0x74, 30, 0x56, 0x69, 0xd6, 0x74, 0x0a, ...CUT], tcvn);
    expect(without.lines[0]?.text).not.toBe('Việt');
    const withCancel = paper([FS, 0x2e, ESC, 0x74, 30, 0x56, 0x69, 0xd6, 0x74, 0x0a, ...CUT], tcvn);
    expect(withCancel.lines[0]?.text).toBe('Việt');
  });

  it('TCVN-3 tables match @point-of-sale/codepage-encoder (tcvn3 and tcvn3capitals)', () => {
    for (const [table, name] of [
      [TCVN3_LOWER, 'tcvn3'],
      [TCVN3_CAPITALS, 'tcvn3capitals'],
    ] as const) {
      for (const [byte, char] of table) {
        // the library spells capital Đ (U+0110) as its look-alike Ð (U+00D0, Icelandic eth)
        const theirs = char === 'Đ' ? 'Ð' : char;
        expect([char, [...CodepageEncoder.encode(theirs, name)]]).toEqual([char, [byte]]);
      }
      // 95 ASCII + 67 Vietnamese letters (12 vowels × 5 tones, ă â ê ô ơ ư đ) in each case
      expect(table.size).toBe(95 + 67);
    }
  });

  it('CP1258 bytes match @point-of-sale/codepage-encoder (windows1258) for every single-byte character', () => {
    for (let byte = 0x20; byte <= 0xff; byte++) {
      if (byte === 0x7f) continue;
      const char = decodeCp1258(Uint8Array.of(byte));
      if (/[\u0080-\u009f\ufffd]/.test(char)) continue; // undefined in CP1258
      expect([char, [...encodeCp1258(char)]]).toEqual([
        char,
        [...CodepageEncoder.encode(char, 'windows1258')],
      ]);
    }
  });

  it('the shared font tells every Vietnamese letter and ASCII character apart', () => {
    const bases = 'aăâeêioôơuưyAĂÂEÊIOÔƠUƯY';
    const letters = new Set<string>('đĐ');
    for (const base of bases)
      for (const tone of ['', '\u0300', '\u0301', '\u0303', '\u0309', '\u0323'])
        letters.add((base + tone).normalize('NFC'));
    for (let code = 0x21; code < 0x7f; code++) letters.add(String.fromCharCode(code));
    const fonts = new Set(fontCharacters());
    expect([...letters].filter((letter) => !fonts.has(letter))).toEqual([]);
    const bits = [...letters].map(glyphBits);
    expect(new Set(bits).size).toBe(letters.size);
  });

  it('fuzz: 300 random Vietnamese lines drawn as raster read back exactly at sizes 1–3, bold or not', () => {
    const unit = fc.constantFrom(
      ...'aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯ àáạảãầấậẩẫềếệểễờớợởỡừứựửữ0123456789.,:/-'.split(''),
    );
    fc.assert(
      fc.property(
        fc.string({ unit, minLength: 1, maxLength: 30 }).filter((s) => s.trim() === s && s.length > 0),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        (text, scale, bold) => {
          const bitmap = rasterText(text, { widthDots: 576, scaleX: scale, scaleY: scale, bold });
          const read = readRasterText(bitmap);
          expect(read?.text).toBe(text.normalize('NFC'));
          expect(read?.cells.filter((cell) => cell.char !== ' ').every((cell) => cell.bold === bold)).toBe(
            true,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each(PRINTER_PROFILE_IDS)(
    'fuzz (%s): 300 random Vietnamese lines, split anywhere on the wire, read back exactly with their emphasis',
    (profileId) => {
      const profile = PRINTER_PROFILES[profileId];
      const unit = fc.constantFrom(
        ...'aăâbđeêioôơuưyAĂÂĐÊÔƠƯ àáạảãầấậẩẫềếệểễờớợởỡừứựửữẠẶỆỘỰ0123456789.,:/—'.split(''),
      );
      const line = fc
        .string({ unit, minLength: 1, maxLength: 30 })
        .filter((s) => s.trim() === s && s.length > 0);
      fc.assert(
        fc.property(line, fc.boolean(), fc.array(fc.nat(), { maxLength: 4 }), (text, bold, cuts) => {
          const bytes = encodeReceipt({ items: [{ kind: 'text', text, bold }] }, profile);
          const decoder = new EscPosDecoder();
          const assembler = new ReceiptAssembler(profile);
          const receipts = [];
          let from = 0;
          for (const at of [...cuts.map((cut) => cut % bytes.length)].sort((a, b) => a - b)) {
            receipts.push(...assembler.apply(decoder.push(bytes.subarray(from, at))));
            from = at;
          }
          receipts.push(...assembler.apply(decoder.push(bytes.subarray(from))));
          expect(receipts).toHaveLength(1);
          expect(receipts[0]?.lines.map((printed) => [printed.text, printed.bold])).toEqual([
            [text.normalize('NFC'), bold],
          ]);
        }),
        { numRuns: 300 },
      );
    },
  );
});

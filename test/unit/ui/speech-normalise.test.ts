import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dateToWords,
  normaliseForSpeech,
  numberToWords,
  spellCode,
  spellIdNumber,
  timeToWords,
} from '../../../src/ui/speech/normalise.js';

describe('numbers in words', () => {
  it('reads Vietnamese numbers the northern way (mốt, lăm, linh, không trăm)', () => {
    expect(numberToWords(0, 'vi')).toBe('không');
    expect(numberToWords(3, 'vi')).toBe('ba');
    expect(numberToWords(10, 'vi')).toBe('mười');
    expect(numberToWords(15, 'vi')).toBe('mười lăm');
    expect(numberToWords(21, 'vi')).toBe('hai mươi mốt');
    expect(numberToWords(25, 'vi')).toBe('hai mươi lăm');
    expect(numberToWords(105, 'vi')).toBe('một trăm linh năm');
    expect(numberToWords(2026, 'vi')).toBe('hai nghìn không trăm hai mươi sáu');
    expect(numberToWords(1_000_000, 'vi')).toBe('một triệu');
  });

  it('reads English numbers', () => {
    expect(numberToWords(0, 'en')).toBe('zero');
    expect(numberToWords(13, 'en')).toBe('thirteen');
    expect(numberToWords(42, 'en')).toBe('forty-two');
    expect(numberToWords(105, 'en')).toBe('one hundred and five');
    expect(numberToWords(2026, 'en')).toBe('two thousand and twenty-six');
  });

  it('refuses what it cannot read', () => {
    expect(() => numberToWords(-1, 'vi')).toThrow(RangeError);
    expect(() => numberToWords(1.5, 'en')).toThrow(RangeError);
  });
});

describe('ID numbers', () => {
  it('are read digit by digit in the groups the screen shows (3-3-3-3)', () => {
    expect(spellIdNumber('001203004567', 'vi')).toBe(
      'không không một, hai không ba, không không bốn, năm sáu bảy',
    );
    expect(spellIdNumber('001203004567', 'en')).toBe(
      'zero zero one, two zero three, zero zero four, five six seven',
    );
  });

  it('are never read as one big number in running text', () => {
    const spoken = normaliseForSpeech('Số định danh 079203001234.', 'vi');
    expect(spoken).toBe('Số định danh không bảy chín, hai không ba, không không một, hai ba bốn.');
  });
});

describe('dates and times', () => {
  it('reads dates in each language', () => {
    expect(dateToWords(2026, 3, 15, 'vi')).toBe(
      'ngày mười lăm tháng ba năm hai nghìn không trăm hai mươi sáu',
    );
    expect(dateToWords(2026, 11, 5, 'vi')).toBe(
      'ngày mùng năm tháng mười một năm hai nghìn không trăm hai mươi sáu',
    );
    expect(dateToWords(2026, 3, 15, 'en')).toBe('March fifteenth, two thousand and twenty-six');
    expect(dateToWords(2026, 12, 22, 'en')).toBe('December twenty-second, two thousand and twenty-six');
    expect(normaliseForSpeech('Ngày 30/11/2026', 'vi')).toBe(
      'Ngày ngày ba mươi tháng mười một năm hai nghìn không trăm hai mươi sáu',
    );
  });

  it('reads times in each language', () => {
    expect(timeToWords(14, 5, 'vi')).toBe('mười bốn giờ năm phút');
    expect(timeToWords(9, 0, 'vi')).toBe('chín giờ');
    expect(timeToWords(14, 5, 'en')).toBe('two oh five p m');
    expect(timeToWords(0, 30, 'en')).toBe('twelve thirty a m');
    expect(normaliseForSpeech('at 09:45', 'en')).toBe('at nine forty-five a m');
  });
});

describe('codes', () => {
  it('spells receipt, tracking and reference codes letter by letter with a pause at each dash', () => {
    expect(spellCode('U-7K3Q9ABC', 'vi')).toBe('u, gạch ngang, bảy ca ba, quy chín a, bê xê');
    expect(spellCode('U-7K3Q9ABC', 'en')).toBe('you, dash, seven kay three, cue nine ay, bee see');
    expect(normaliseForSpeech('Mã R-4F2 đã in', 'vi')).toBe('Mã e rờ, gạch ngang, bốn ép hai đã in');
  });

  it('leaves words in capitals without digits alone', () => {
    expect(normaliseForSpeech('QR code', 'en')).toBe('QR code');
  });

  it('reads phone numbers digit by digit and small counts as numbers', () => {
    expect(normaliseForSpeech('0911222333', 'vi')).toBe('không chín một một, hai hai hai, ba ba ba');
    expect(normaliseForSpeech('Còn 2 lần thử', 'vi')).toBe('Còn hai lần thử');
    expect(normaliseForSpeech('12 digits', 'en')).toBe('twelve digits');
  });
});

describe('normaliseForSpeech (property)', () => {
  it('never leaves a digit for the synthesiser, whatever the text', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 80 }),
        fc.constantFrom('vi' as const, 'en' as const),
        (text, lang) => {
          expect(normaliseForSpeech(text, lang)).not.toMatch(/\d/);
        },
      ),
    );
  });

  it('reads any long digit string in short groups', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9]{7,64}$/),
        fc.constantFrom('vi' as const, 'en' as const),
        (digits, lang) => {
          const spoken = normaliseForSpeech(digits, lang);
          for (const group of spoken.split(', ')) expect(group.split(' ').length).toBeLessThanOrEqual(4);
        },
      ),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { telex, telexKey, toneIndex } from '../../../src/ui/public/telex.js';

describe('Telex input (the on-screen keyboard for names and addresses)', () => {
  it.each([
    ['Nguyeenx', 'Nguyễn'],
    ['Traanf Thij Thu', 'Trần Thị Thu'],
    ['Vieetj Nam', 'Việt Nam'],
    ['dduwowngf Leex Loiwj', 'đường Lễ Lợi'],
    ['nguoiwf', 'người'],
    ['Phuwowngf Beesn Nghes', 'Phường Bến Nghé'],
    ['DDoongf Thaps', 'Đồng Tháp'],
    ['Quangr Ngaix', 'Quảng Ngãi'],
    ['quoocs giaf', 'quốc già'],
    ['Hoaf muaf ngoaif', 'Hòa mùa ngoài'],
    ['khuyur thuyr', 'khuỷu thủy'],
    ['Xuaan 12/3', 'Xuân 12/3'],
  ])('%s → %s', (keys, expected) => {
    expect(telex(keys)).toBe(expected);
  });

  it('the same key twice undoes its mark and types the letter', () => {
    expect(telex('aaa')).toBe('aa');
    expect(telex('ass')).toBe('as');
    expect(telex('ddd')).toBe('dd');
    expect(telex('aww')).toBe('aw');
    expect(telex('Looiwj')).toBe('Lợi'); // ô then w: the horn replaces the circumflex
  });

  it('z takes the tone off; the tone moves when the vowels change', () => {
    expect(telex('Vieejtz')).toBe('Viêt');
    expect(telex('hoaf')).toBe('hòa');
    expect(telex('hoafn')).toBe('hoàn'); // a final consonant: the tone moves to the last vowel
    expect(telex('tieesng')).toBe('tiếng'); // the tone typed before the final consonant
  });

  it('only the last word changes, and non-letters are typed as they are', () => {
    expect(telexKey('Nguyễn ', 's')).toBe('Nguyễn s');
    expect(telexKey('Số 12', 'a')).toBe('Số 12a');
    expect(telexKey('anh.le', '@')).toBe('anh.le@');
  });

  it('the tone goes where Vietnamese spelling puts it', () => {
    expect(toneIndex([...'quan'])).toBe(2);
    expect(toneIndex([...'gia'])).toBe(2);
    expect(toneIndex([...'mua'])).toBe(1);
    expect(toneIndex([...'ngươi'])).toBe(3);
    expect(toneIndex([...'bcd'])).toBe(-1);
  });

  it('never throws and never changes what came before the last word (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ minLength: 1, maxLength: 1 }), (text, key) => {
        const before = text.normalize('NFC');
        const after = telexKey(before, key);
        const word = /\p{L}+$/u.exec(before)?.[0] ?? '';
        expect(after.startsWith(before.slice(0, before.length - word.length))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

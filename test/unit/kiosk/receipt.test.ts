import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { composeReceipt, receiptQr, vietnamTime, wrap } from '../../../src/kiosk/receipt.js';

const FACTS = {
  kind: 'update' as const,
  kioskId: 'dn-0042',
  site: 'Bộ phận Một cửa, UBND Phường Hải Châu',
  at: new Date('2026-12-31T17:30:00Z'),
  reference: 'U-8H3K2P0Q',
};

describe('the receipt', () => {
  it('carries the kiosk, the site, Vietnam time, the reference and a QR of the same facts', () => {
    const receipt = composeReceipt(FACTS);
    const text = receipt.items.flatMap((item) => (item.kind === 'text' ? [item.text] : [])).join('\n');
    expect(text).toContain('Kiosk: dn-0042');
    expect(text).toContain('Bộ phận Một cửa, UBND Phường Hải Châu');
    expect(text).toContain('Thời gian: 01/01/2027 00:30'); // UTC+7: already the new year
    expect(text).toContain('Mã tham chiếu: U-8H3K2P0Q');
    expect(receipt.items.filter((item) => item.kind === 'qr')).toEqual([
      { kind: 'qr', data: receiptQr(FACTS), moduleSize: 5, align: 'center' },
    ]);
    expect(receiptQr(FACTS)).toBe('CCCD-KIOSK|update|dn-0042|U-8H3K2P0Q|2026-12-31T17:30:00.000Z');
  });

  it('fits every line to the printer: 32 columns on 58 mm, half that at double width', () => {
    const receipt = composeReceipt(
      { ...FACTS, site: 'Trung tâm Phục vụ hành chính công tỉnh Quảng Nam, số 6 Trần Hưng Đạo' },
      32,
    );
    for (const item of receipt.items) {
      if (item.kind !== 'text') continue;
      for (const line of item.text.split('\n'))
        expect([...line].length).toBeLessThanOrEqual(Math.floor(32 / (item.width ?? 1)));
    }
  });

  it('writes the time as people in Vietnam do', () => {
    expect(vietnamTime(new Date('2026-03-05T01:02:00Z'))).toBe('05/03/2026 08:02');
  });

  it('fuzz: wrapping keeps every word, in order, within the width', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'ab ệĐ'.split('')), maxLength: 80 }),
        fc.integer({ min: 1, max: 48 }),
        (text, columns) => {
          const lines = wrap(text, columns);
          for (const line of lines) expect([...line].length).toBeLessThanOrEqual(columns);
          expect(lines.join('').replaceAll(' ', '')).toBe(text.normalize('NFC').replaceAll(' ', ''));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

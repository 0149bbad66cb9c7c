import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CccdError, type CccdReason } from '../../../src/cccd/errors.js';
import { expiryFor } from '../../../src/cccd/expiry.js';
import { parseIdNumber } from '../../../src/cccd/id-number.js';
import {
  bacKeyFromMrz,
  bacKeyFromQr,
  cccdMrzFromRecord,
  parseCccdMrz,
  toMrzName,
} from '../../../src/cccd/mrz.js';
import { formatQr, parseQr } from '../../../src/cccd/qr.js';
import { checkDigit, formatTd1 } from '../../../src/card/mrz.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';

function reasonsOf(run: () => unknown): CccdReason[] {
  try {
    run();
  } catch (error) {
    if (error instanceof CccdError) return error.reasons;
    throw error;
  }
  throw new Error('accepted an input that should have been refused');
}

// cccd-facts.md §1.3 / §3 fabricated, format-correct examples.
const QR_1 =
  '001195012345|012345678|Trần Thị Mai|15031995|Nữ|Số 12 ngõ 34 Hàng Bạc, Phường Hàng Bạc, Quận Hoàn Kiếm, Hà Nội|10072021';
const QR_2 =
  '079204000777||Lê Đức Anh|02112004|Nam|45 Nguyễn Trãi, Phường Bến Thành, Quận 1, Thành phố Hồ Chí Minh|20092024';
const QR_3 = '040058000321|181234567|Phạm Văn Hùng|30061958|Nam|Xóm 3, Xã An Phú, Tỉnh Nghệ An|15082025';
const MRZ_1 = [
  'IDVNM1950123452001195012345<<3',
  '9503157F3503155VNM<<<<<<<<<<<0',
  'TRAN<<THI<MAI<<<<<<<<<<<<<<<<<',
];
const MRZ_2 = [
  'IDVNM2040007775079204000777<<5',
  '0411022M2911021VNM<<<<<<<<<<<6',
  'LE<<DUC<ANH<<<<<<<<<<<<<<<<<<<',
];
const MRZ_3 = [
  'IDVNM0580003211040058000321<<3',
  '5806300M9912315VNM<<<<<<<<<<<2',
  'PHAM<<VAN<HUNG<<<<<<<<<<<<<<<<',
];

describe('12-digit ID number', () => {
  it('decodes province, sex and birth year', () => {
    expect(parseIdNumber('001195012345')).toMatchObject({
      province: 'Hà Nội',
      sex: 'female',
      birthYear: 1995,
      documentNumber: '195012345',
    });
    expect(parseIdNumber('079204000777')).toMatchObject({
      province: 'TP Hồ Chí Minh',
      sex: 'male',
      birthYear: 2004,
    });
    expect(parseIdNumber('040058000321')).toMatchObject({ sex: 'male', birthYear: 1958 });
  });

  it('refuses each invalid input with its reason', () => {
    expect(reasonsOf(() => parseIdNumber('003195012345'))).toEqual(['unknown-province']);
    expect(reasonsOf(() => parseIdNumber('001195012345', { sex: 'male' }))).toEqual(['sex-mismatch']);
    expect(
      reasonsOf(() => parseIdNumber('001195012345', { dateOfBirth: { year: 2095, month: 3, day: 15 } })),
    ).toEqual(['birth-year-mismatch']);
    expect(reasonsOf(() => parseIdNumber('195012345'))).toEqual(['document-number-given-as-id']);
    for (const bad of ['', '00119501234', '0011950123456', '00119501234A', ' 001195012345'])
      expect(reasonsOf(() => parseIdNumber(bad))).toEqual(['id-format']);
  });

  it('never throws anything but CccdError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 14 }), (s) => {
        try {
          parseIdNumber(s);
        } catch (error) {
          expect(error).toBeInstanceOf(CccdError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('front QR payload', () => {
  it('parses the 7-field payloads, including an empty old CMND, and formats them back', () => {
    for (const text of [QR_1, QR_2, QR_3]) expect(formatQr(parseQr(text))).toBe(text);
    const qr = parseQr(QR_2);
    expect(qr).toMatchObject({
      idNumber: '079204000777',
      oldIdNumber: '',
      fullName: 'Lê Đức Anh',
      sex: 'male',
    });
    expect(qr.dateOfBirth).toEqual({ year: 2004, month: 11, day: 2 });
    expect(qr.address).toContain(', '); // commas inside the address are not separators
  });

  it('accepts longer CC24 payloads and keeps the extra fields', () => {
    const qr = parseQr(`${QR_2}|079099000111|extra`);
    expect(qr.extraFields).toEqual(['079099000111', 'extra']);
    expect(formatQr(qr)).toBe(`${QR_2}|079099000111|extra`);
  });

  it('refuses each invalid or malformed payload with its reason', () => {
    expect(reasonsOf(() => parseQr('001195012345|012345678|Trần Thị Mai|15031995|Nữ|Hà Nội'))).toEqual([
      'qr-field-count',
    ]);
    expect(reasonsOf(() => parseQr(QR_1.replace('15031995', '31021995')))).toEqual(['impossible-date']);
    expect(reasonsOf(() => parseQr(QR_1.replace('|Nữ|', '|Nam|')))).toEqual(['sex-mismatch']);
    expect(reasonsOf(() => parseQr(QR_1.replace('|Nữ|', '|F|')))).toEqual(['qr-sex']);
    expect(reasonsOf(() => parseQr(QR_1.replace('15031995', '15031996')))).toEqual(['birth-year-mismatch']);
    expect(reasonsOf(() => parseQr(QR_1.replace('001195012345', '003195012345')))).toEqual([
      'unknown-province',
    ]);
    expect(reasonsOf(() => parseQr(QR_1.replace('012345678', '12345')))).toEqual(['qr-old-id-format']);
    expect(reasonsOf(() => parseQr(QR_1.replace('001195012345', '195012345')))).toEqual([
      'document-number-given-as-id',
    ]);
  });

  it('never throws anything but CccdError', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 14 }), { maxLength: 9 }), (fields) => {
        try {
          parseQr(fields.join('|'));
        } catch (error) {
          expect(error).toBeInstanceOf(CccdError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('CCCD MRZ', () => {
  it('parses the examples: 12-digit ID from optional data, not the 9-digit document number', () => {
    const parsed = parseCccdMrz(MRZ_1);
    expect(parsed.id.value).toBe('001195012345');
    expect(parsed.mrz.documentNumber).toBe('195012345');
    expect(parsed.mrz.primaryIdentifier).toBe('TRAN');
    expect(parsed.mrz.secondaryIdentifier).toBe('THI MAI');
    expect(parseCccdMrz(MRZ_2).id.value).toBe('079204000777');
    expect(parseCccdMrz(MRZ_3).mrz.dateOfExpiry).toBe('991231');
  });

  it('builds the card MRZ from a citizen record, names without diacritics', () => {
    expect(cccdMrzFromRecord(TRAN_THI_MAI)).toEqual(MRZ_1);
    expect(toMrzName('Đặng Thị Ngọc Ánh')).toBe('DANG THI NGOC ANH');
  });

  it('refuses each broken MRZ with its reason', () => {
    const withDigit = (line: string, at: number) =>
      line.slice(0, at) + String((Number(line[at]) + 1) % 10) + line.slice(at + 1);
    expect(reasonsOf(() => parseCccdMrz([withDigit(MRZ_1[0]!, 14), MRZ_1[1]!, MRZ_1[2]!]))).toEqual([
      'mrz-check-digit',
    ]);
    expect(reasonsOf(() => parseCccdMrz([MRZ_1[0]!, withDigit(MRZ_1[1]!, 6), MRZ_1[2]!]))).toEqual([
      'mrz-check-digit',
    ]);
    // the ID's own check digit wrong, the composite recomputed so only the CCCD rule can catch it
    const line1 = withDigit(MRZ_1[0]!, 29);
    const line2 =
      MRZ_1[1]!.slice(0, 29) +
      checkDigit(
        line1.slice(5, 30) + MRZ_1[1]!.slice(0, 7) + MRZ_1[1]!.slice(8, 15) + MRZ_1[1]!.slice(18, 29),
      );
    expect(reasonsOf(() => parseCccdMrz([line1, line2, MRZ_1[2]!]))).toEqual(['mrz-id-check-digit']);
    // a document number that is not the ID's last 9 digits (all check digits right)
    const td1 = (documentNumber: string, documentCode = 'ID') =>
      formatTd1({
        documentCode,
        issuingState: 'VNM',
        documentNumber,
        optionalData1: `001195012345<<${checkDigit('001195012345')}`,
        dateOfBirth: '950315',
        sex: 'F',
        dateOfExpiry: '350315',
        nationality: 'VNM',
        optionalData2: '',
        primaryIdentifier: 'TRAN',
        secondaryIdentifier: 'THI MAI',
      });
    expect(td1('195012345')).toEqual(MRZ_1);
    expect(reasonsOf(() => parseCccdMrz(td1('195012346')))).toEqual(['document-number-mismatch']);
    expect(reasonsOf(() => parseCccdMrz(td1('195012345', 'IP')))).toEqual(['mrz-not-cccd']);
    // a TD3 passport MRZ (ICAO 9303 part 4 specimen) is not a CCCD
    expect(
      reasonsOf(() =>
        parseCccdMrz([
          'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<',
          'L898902C36UTO7408122F1204159ZE184226B<<<<<10',
        ]),
      ),
    ).toEqual(['mrz-not-cccd']);
    expect(reasonsOf(() => parseCccdMrz(MRZ_1.slice(0, 2)))).toEqual(['mrz-check-digit']);
    expect(reasonsOf(() => parseCccdMrz([MRZ_1[0]!.replace('VNM', 'UTO'), MRZ_1[1]!, MRZ_1[2]!]))).toEqual([
      'mrz-not-cccd',
    ]);
  });

  it('derives the BAC key from the QR alone, equal to the one from the MRZ', () => {
    for (const [qr, mrz] of [
      [QR_1, MRZ_1],
      [QR_2, MRZ_2],
      [QR_3, MRZ_3],
    ] as const) {
      expect(bacKeyFromQr(parseQr(qr))).toEqual(bacKeyFromMrz(parseCccdMrz(mrz).mrz));
    }
  });

  it('computes the expiry from the renewal ages', () => {
    expect(expiryFor({ year: 1995, month: 3, day: 15 }, { year: 2021, month: 7, day: 10 })).toEqual({
      year: 2035,
      month: 3,
      day: 15,
    });
    // issued less than two years before the 25th birthday: valid to the 40th
    expect(expiryFor({ year: 1997, month: 1, day: 1 }, { year: 2021, month: 6, day: 1 })).toEqual({
      year: 2037,
      month: 1,
      day: 1,
    });
    expect(expiryFor({ year: 1958, month: 6, day: 30 }, { year: 2025, month: 8, day: 15 })).toBeNull();
    // CC24 adds the 14th birthday
    expect(expiryFor({ year: 2015, month: 5, day: 5 }, { year: 2024, month: 8, day: 1 })).toEqual({
      year: 2029,
      month: 5,
      day: 5,
    });
  });
});

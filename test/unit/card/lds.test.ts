import { describe, expect, it } from 'vitest';
import { LdsError } from '../../../src/card/errors.js';
import {
  encodeDg13,
  encodeDg2,
  encodeEfCom,
  parseDg13,
  parseDg2,
  parseEfCom,
} from '../../../src/card/lds.js';
import { encodeTlv } from '../../../src/card/tlv.js';
import { dg13FromRecord } from '../../../src/cccd/record.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';

const utf8 = (s: string) => encodeTlv(0x0c, Buffer.from(s, 'utf8'));
const field = (n: number, ...values: Buffer[]) =>
  encodeTlv(0x30, encodeTlv(0x02, Buffer.from([n])), ...values);
const dg13Of = (...fields: Buffer[]) =>
  encodeTlv(
    0x6d,
    encodeTlv(
      0x30,
      encodeTlv(0x02, Buffer.from([1])),
      encodeTlv(0x06, Buffer.from('28D316010008', 'hex')),
      encodeTlv(0x31, ...fields),
    ),
  );

describe('DG13 (cccd-facts.md §4.3), walked as DER by field number', () => {
  it('round-trips a record, a residence longer than 127 bytes (long-form length) included', () => {
    const fields = dg13FromRecord(TRAN_THI_MAI);
    const bytes = encodeDg13(fields);
    expect(Buffer.byteLength(fields.placeOfResidence!, 'utf8')).toBeGreaterThan(127);
    expect(bytes.includes(Buffer.from([0x30, 0x81]))).toBe(true);
    expect(parseDg13(bytes)).toEqual(fields);
  });

  it('accepts both parent layouts, a bare spouse entry, absent and unknown fields', () => {
    const separate = dg13Of(
      field(1, encodeTlv(0x13, Buffer.from('001195012345'))),
      field(13, encodeTlv(0x30, utf8('Cha')), encodeTlv(0x30, utf8('Mẹ'))),
      field(14),
    );
    const nested = dg13Of(
      field(13, encodeTlv(0x30, utf8('Cha'), utf8('Mẹ'))),
      field(99, utf8('tương lai')),
      field(2, utf8('Tên')),
    );
    expect(parseDg13(separate)).toEqual({ idNumber: '001195012345', parents: ['Cha', 'Mẹ'] });
    expect(parseDg13(nested)).toEqual({ fullName: 'Tên', parents: ['Cha', 'Mẹ'] });
  });

  it('names the file when a TLV is truncated or malformed', () => {
    const bytes = encodeDg13(dg13FromRecord(TRAN_THI_MAI));
    for (const broken of [
      bytes.subarray(0, bytes.length - 1),
      bytes.subarray(0, 3),
      Buffer.concat([Buffer.from([0x6c]), bytes.subarray(1)]),
    ]) {
      const error = (() => {
        try {
          parseDg13(broken);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(LdsError);
      expect((error as LdsError).file).toBe('DG13');
    }
  });
});

describe('EF.COM and DG2', () => {
  it('round-trip', () => {
    expect(parseEfCom(encodeEfCom([1, 2, 13, 14, 15])).dataGroups).toEqual([1, 2, 13, 14, 15]);
    const image = Buffer.concat([Buffer.from('0000000C6A5020200D0A870A', 'hex'), Buffer.alloc(100, 3)]);
    expect(parseDg2(encodeDg2({ image, width: 300, height: 400, format: 'jpeg2000' }))).toEqual({
      format: 'jpeg2000',
      width: 300,
      height: 400,
      image,
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  decodeCommand,
  decodeResponse,
  encodeCommand,
  encodeResponse,
  statusWordName,
} from '../../../src/card/apdu.js';
import { ApduError } from '../../../src/card/errors.js';

describe('ISO 7816-4 APDUs', () => {
  const cases = [
    { cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: Buffer.from('A0000002471001', 'hex') },
    { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 },
    { cla: 0, ins: 0xb0, p1: 1, p2: 2, le: 65536 },
    { cla: 0x0c, ins: 0xb0, p1: 0, p2: 0, data: Buffer.alloc(300, 1), le: 4000 },
    { cla: 0, ins: 0x84, p1: 0, p2: 0, le: 8 },
    { cla: 0, ins: 0x88, p1: 0, p2: 0, data: Buffer.alloc(8, 2), le: 256 },
  ];

  it('encodes short and extended length and decodes them back', () => {
    expect(encodeCommand(cases[0]!).toString('hex').toUpperCase()).toBe('00A4040C07A0000002471001');
    expect(encodeCommand(cases[1]!).toString('hex').toUpperCase()).toBe('00B0000000');
    expect(encodeCommand(cases[2]!).toString('hex').toUpperCase()).toBe('00B00102000000');
    expect(encodeCommand(cases[3]!).subarray(4, 7).toString('hex')).toBe('00012c');
    for (const c of cases) expect(decodeCommand(encodeCommand(c))).toEqual(c);
  });

  it('splits responses and names status words', () => {
    expect(decodeResponse(encodeResponse({ data: Buffer.from([1, 2]), sw: 0x6282 }))).toEqual({
      data: Buffer.from([1, 2]),
      sw: 0x6282,
    });
    expect(statusWordName(0x6982)).toBe('security status not satisfied');
    expect(statusWordName(0x6c10)).toBe('wrong Le, exact length is 16');
    expect(() => decodeResponse(Buffer.from([0x90]))).toThrow(ApduError);
    expect(() => decodeCommand(Buffer.from('00B0000005AABB', 'hex'))).toThrow(ApduError);
  });
});

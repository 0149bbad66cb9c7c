/**
 * Fuzz (fast-check) of every decoder that meets chip or reader bytes; the only exceptions allowed
 * out are the card stack's own typed errors. TLV and APDU responses take 100,000 inputs in every
 * run. EF.SOD goes through the CMS library at ~1 ms per deep parse, so `npm test` gives it 10,000
 * and `npm run fuzz:card` (FUZZ_RUNS=100000) the full 100,000.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCommand, decodeResponse } from '../../../src/card/apdu.js';
import {
  decodeOid,
  encodeOid,
  parseDg1,
  parseDg13,
  parseDg14,
  parseDg15,
  parseDg2,
  parseEfCom,
} from '../../../src/card/lds.js';
import { verifyPassiveAuthentication } from '../../../src/card/pa.js';
import { SecureMessaging } from '../../../src/card/sm.js';
import { parseSod } from '../../../src/card/sod.js';
import { decodeTlv, decodeTlvList, encodeTlv } from '../../../src/card/tlv.js';
import { buildChipImage } from '../../../devices/card-reader/chip-image.js';
import { createTestPki } from '../../../src/demo/test-pki.js';
import { LDS_FILES } from '../../../src/card/files.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { mutationsOf, typedOnly } from './fuzz-inputs.js';

const RUNS = 100_000;
const SOD_RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

let sod: Buffer;
let dg13: Buffer;
let dg2: Buffer;
let dg1: Buffer;
beforeAll(() => {
  const image = buildChipImage({ record: TRAN_THI_MAI, pki: createTestPki() });
  sod = image.files.get(LDS_FILES.SOD)!;
  dg13 = image.files.get(LDS_FILES.DG13)!;
  dg2 = image.files.get(LDS_FILES.DG2)!;
  dg1 = image.files.get(LDS_FILES.DG1)!;
});

describe('fuzz', () => {
  it('BER-TLV decoding: typed errors only, and encode → decode round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        typedOnly(() => decodeTlvList(bytes));
        typedOnly(() => decodeTlv(bytes));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0x04, 0x30, 0x5f1f, 0x7f61),
        fc.uint8Array({ maxLength: 70_000 }),
        (tag, value) => {
          const tlv = decodeTlv(encodeTlv(tag, value));
          expect(tlv.tag).toBe(tag);
          expect(Buffer.compare(tlv.value, value)).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('APDU responses, plain and under secure messaging: typed errors only', () => {
    const terminal = new SecureMessaging({ ksEnc: Buffer.alloc(16, 1), ksMac: Buffer.alloc(16, 2), ssc: 0n });
    const validResponse = new SecureMessaging({
      ksEnc: Buffer.alloc(16, 1),
      ksMac: Buffer.alloc(16, 2),
      ssc: 1n,
    }).wrapResponse({
      data: Buffer.from('hello, chip'),
      sw: 0x9000,
    });
    fc.assert(
      fc.property(mutationsOf(validResponse), (bytes) => {
        typedOnly(() => decodeCommand(bytes));
        typedOnly(() => terminal.unwrapResponse(decodeResponse(bytes)));
      }),
      { numRuns: RUNS },
    );
  });

  it('EF.SOD parsing and passive authentication: typed errors only', { timeout: 600_000 }, () => {
    fc.assert(
      fc.property(mutationsOf(sod), (bytes) => {
        typedOnly(() => parseSod(bytes));
      }),
      { numRuns: SOD_RUNS },
    );
    // PA never throws on a bad SOD: it reports sod-structure.
    fc.assert(
      fc.property(mutationsOf(sod), (bytes) => {
        const verdict = verifyPassiveAuthentication({
          sod: bytes,
          dataGroups: new Map([[13, dg13]]),
          trustAnchors: [],
        });
        expect(verdict.passed).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });

  it('OBJECT IDENTIFIER encode → decode round-trips', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 39 }),
        fc.array(fc.nat(2 ** 31), { maxLength: 8 }),
        (a, b, rest) => {
          const oid = [a, b, ...rest].join('.');
          expect(decodeOid(encodeOid(oid))).toBe(oid);
        },
      ),
      { numRuns: 5000 },
    );
    expect(encodeOid('2.23.136.1.1.1').toString('hex')).toBe('678108010101');
  });

  it('LDS files (EF.COM, DG1, DG2, DG13, DG15): typed errors only', () => {
    fc.assert(
      fc.property(mutationsOf(dg13), mutationsOf(dg1), mutationsOf(dg2.subarray(0, 200)), (a, b, c) => {
        typedOnly(() => parseDg13(a));
        typedOnly(() => parseDg1(b));
        typedOnly(() => parseDg2(c));
        typedOnly(() => parseEfCom(a));
        typedOnly(() => parseDg15(c));
        typedOnly(() => parseDg14(a));
        typedOnly(() => decodeOid(b));
      }),
      { numRuns: 20_000 },
    );
  });
});

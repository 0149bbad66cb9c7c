import { type X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AccessControlError,
  SecureMessagingError,
  parseTrustList,
  readCard,
} from '../../../src/card/index.js';
import { dg13FromRecord } from '../../../src/cccd/record.js';
import { buildChipImage, syntheticJpeg, type ChipImage } from '../../../devices/card-reader/chip-image.js';
import { ChipEmulator } from '../../../devices/card-reader/emulator.js';
import { type TestPki, createTestPki } from '../../../src/demo/test-pki.js';
import { LDS_FILES } from '../../../src/card/files.js';
import { capturingLogger } from '../../helpers/logs.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';

let pki: TestPki;
let image: ChipImage;
let trust: X509Certificate[];
const face = syntheticJpeg(15 * 1024);

beforeAll(() => {
  pki = createTestPki();
  trust = parseTrustList(pki.trustListPem);
  image = buildChipImage({ record: TRAN_THI_MAI, pki, face });
});

const cloneImage = (from: ChipImage): ChipImage => ({ ...from, files: new Map(from.files) });

describe('reading an emulated CCCD chip', () => {
  it('reads DG1, DG2, DG13, DG14, DG15 and EF.SOD over PACE; PA, CA and AA pass and bind', async () => {
    const result = await readCard(new ChipEmulator(image), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: trust,
      activeAuthentication: true,
    });
    expect(result.accessProtocol).toBe('pace');
    expect(result.chip).toEqual({ status: 'passed' });
    expect(result.authenticity).toMatchObject({ authentic: true, caBound: true, aaBound: true, reasons: [] });
    expect(result.mrz.lines).toEqual(image.mrzLines);
    expect(result.mrz.optionalData1.slice(0, 12)).toBe(TRAN_THI_MAI.idNumber);
    expect(result.dg13).toEqual(dg13FromRecord(TRAN_THI_MAI));
    expect(result.face?.format).toBe('jpeg');
    expect(result.face?.image.equals(face)).toBe(true);
    expect(result.com?.dataGroups).toEqual([1, 2, 13, 14, 15]);
    expect(result.passive.failures).toEqual([]);
    expect(result.passive.passed).toBe(true);
    expect(result.active).toEqual({ status: 'passed' });
  });

  it('a read that names its data groups does without EF.COM; one that names none needs it', async () => {
    const noCom = cloneImage(image);
    noCom.files.delete(LDS_FILES.COM);
    const named = await readCard(new ChipEmulator(noCom), {
      access: { kind: 'can', can: TRAN_THI_MAI.idNumber.slice(-6) },
      trustAnchors: trust,
      dataGroups: [1, 2, 13, 14, 15],
    });
    expect(named.com).toBeUndefined();
    expect([...named.dataGroups.keys()].sort((a, b) => a - b)).toEqual([1, 2, 13, 14, 15]);
    expect(named.authenticity.authentic).toBe(true);
    const unnamed = await readCard(new ChipEmulator(noCom), {
      access: { kind: 'can', can: TRAN_THI_MAI.idNumber.slice(-6) },
      trustAnchors: trust,
    }).catch((error: unknown) => error);
    expect(unnamed).toMatchObject({ name: 'CardFileError', step: 'select' });
  });

  it('a short-length chip refuses extended length once, in plain, before PACE; never under SM', async () => {
    const chip = new ChipEmulator(image, { extendedLength: false });
    const answers: Array<{ secured: boolean; sw: number }> = [];
    const result = await readCard(
      {
        transmit: async (command) => {
          const answer = chip.process(command);
          answers.push({
            secured: (command[0]! & 0x0c) === 0x0c,
            sw: answer.readUInt16BE(answer.length - 2),
          });
          return answer;
        },
        close: async () => {},
      },
      {
        access: { kind: 'can', can: TRAN_THI_MAI.idNumber.slice(-6) },
        trustAnchors: trust,
        dataGroups: [1, 2, 13, 14, 15],
      },
    );
    expect(result.authenticity.authentic).toBe(true);
    expect(answers.filter((a) => a.sw === 0x6700)).toEqual([{ secured: false, sw: 0x6700 }]);
  });

  it('a named data group the chip does not hold is absent, not an error (6A82)', async () => {
    const noDg13 = cloneImage(image);
    noDg13.files.delete(LDS_FILES.DG13);
    const result = await readCard(new ChipEmulator(noDg13), {
      access: { kind: 'can', can: TRAN_THI_MAI.idNumber.slice(-6) },
      trustAnchors: trust,
      dataGroups: [1, 13, 14, 15],
    });
    expect(result.dataGroups.has(13)).toBe(false);
    expect(result.dg13).toBeUndefined();
    expect(result.passive.passed).toBe(true);
  });

  it('logs steps, lengths and verdicts, never the MRZ, the ID or names', async () => {
    const { log, text } = capturingLogger('debug');
    await readCard(new ChipEmulator(image), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: trust,
      log,
    });
    expect(text()).toContain('"passive":true');
    expect(text()).toContain('"DG13":');
    for (const secret of [
      TRAN_THI_MAI.idNumber,
      image.bacKey.documentNumber,
      image.mrzLines[0]!,
      'Trần',
      'TRAN',
    ])
      expect(text()).not.toContain(secret);
  });

  it('works with short-length chips, extended-length chips and an EC AA key', async () => {
    const ecImage = buildChipImage({
      record: TRAN_THI_MAI,
      pki,
      activeAuthentication: 'ec',
      hashAlgorithm: 'sha1',
      aaHash: 'sha384',
    });
    for (const options of [
      { extendedLength: false },
      { extendedLength: true, maxReadLength: 4000 },
      { maxReadLength: 7 },
    ]) {
      const result = await readCard(new ChipEmulator(ecImage, options), {
        access: { kind: 'bac', key: ecImage.bacKey },
        trustAnchors: trust,
        activeAuthentication: true,
      });
      expect(result.passive.passed).toBe(true);
      expect(result.active.status).toBe('passed');
      expect(result.dataGroups.has(14)).toBe(true); // DG14 names ecdsa-plain-SHA384, hashed under PA too
      expect(result.passive.checks.some((c) => c.check === 'dg-hash' && c.dataGroup === 14 && c.passed)).toBe(
        true,
      );
    }
  });

  it('refuses a wrong MRZ at MUTUAL AUTHENTICATE (BAC-only chip)', async () => {
    const key = { ...image.bacKey, dateOfBirth: '950316' };
    const bacOnly = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'bac-only' });
    const error = await readCard(new ChipEmulator(bacOnly), {
      access: { kind: 'bac', key },
      trustAnchors: trust,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessControlError);
    expect((error as AccessControlError).step).toBe('mutual-authenticate');
    expect((error as AccessControlError).statusWord).toBe(0x6300);
  });

  it('names the tampered data group (hash mismatch)', async () => {
    const tampered = cloneImage(image);
    const dg13 = Buffer.from(tampered.files.get(LDS_FILES.DG13)!);
    const at = dg13.indexOf(Buffer.from('Kinh', 'utf8'));
    dg13.write('Tày', at, 'utf8'); // same length: structure intact, content changed
    tampered.files.set(LDS_FILES.DG13, dg13);
    const result = await readCard(new ChipEmulator(tampered), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: trust,
    });
    expect(result.passive.passed).toBe(false);
    expect(result.passive.failures).toEqual([
      { check: 'dg-hash', dataGroup: 13, passed: false, detail: 'hash mismatch' },
    ]);
  });

  it('fails the signature check when the SOD signature is altered', async () => {
    const tampered = cloneImage(image);
    const sod = Buffer.from(tampered.files.get(LDS_FILES.SOD)!);
    sod[sod.length - 5]! ^= 0x40; // the signature is the last element of the SignerInfo
    tampered.files.set(LDS_FILES.SOD, sod);
    const result = await readCard(new ChipEmulator(tampered), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: trust,
    });
    expect(result.passive.failures.map((f) => f.check)).toEqual(['signature']);
  });

  it('fails ds-trust with another CSCA, ds-validity with an expired signer', async () => {
    const other = parseTrustList(createTestPki().trustListPem);
    const untrusted = await readCard(new ChipEmulator(image), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: other,
    });
    expect(untrusted.passive.failures.map((f) => f.check)).toEqual(['ds-trust']);

    const now = new Date();
    const expiredPki = createTestPki({
      signerNotBefore: new Date(now.getTime() - 4e10),
      signerNotAfter: new Date(now.getTime() - 1e9),
    });
    const expiredImage = buildChipImage({
      record: TRAN_THI_MAI,
      pki: expiredPki,
      activeAuthentication: false,
    });
    const expired = await readCard(new ChipEmulator(expiredImage), {
      access: { kind: 'bac', key: expiredImage.bacKey },
      trustAnchors: parseTrustList(expiredPki.trustListPem),
    });
    expect(expired.passive.failures.map((f) => f.check)).toEqual(['ds-validity']);
    expect(expired.active.status).toBe('not-supported');
  });

  it('rejects a response whose MAC was altered', async () => {
    const error = await readCard(new ChipEmulator(image, { corruptResponseMac: 3 }), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: trust,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecureMessagingError);
    expect((error as SecureMessagingError).check).toBe('mac');
  });

  it('reports a clone whose chip key is not the one in DG15 as failing Active Authentication', async () => {
    const other = buildChipImage({ record: TRAN_THI_MAI, pki });
    const clone: ChipImage = { ...image, aaPrivateKey: other.aaPrivateKey! };
    const result = await readCard(new ChipEmulator(clone), {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: trust,
      activeAuthentication: true,
    });
    expect(result.passive.passed).toBe(true);
    expect(result.active.status).toBe('failed');
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import {
  TrustListError,
  buildTrustList,
  describeTrustList,
  importCrl,
  importMasterList,
  readCard,
  verifyPassiveAuthentication,
} from '../../../src/card/index.js';
import { buildChipImage, type ChipImage } from '../../../devices/card-reader/chip-image.js';
import { ChipEmulator } from '../../../devices/card-reader/emulator.js';
import { type TestAuthority, type TestPki, createTestPki } from '../../../src/demo/test-pki.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import {
  buildCrl,
  buildMasterList,
  issueForeignCsca,
  issueMasterListSigner,
} from '../../../src/demo/trust-list-pki.js';

const DAY = 86_400_000;
const now = new Date();
let pki: TestPki;
let foreign: TestAuthority;
let signer: TestAuthority;
let masterList: Buffer;
let image: ChipImage;
const validity = { notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 365 * DAY) };
const crlValidity = {
  thisUpdate: new Date(now.getTime() - DAY),
  nextUpdate: new Date(now.getTime() + 30 * DAY),
};

beforeAll(() => {
  pki = createTestPki();
  foreign = issueForeignCsca('UT');
  signer = issueMasterListSigner(pki.csca, validity);
  masterList = buildMasterList([pki.csca.certificate, foreign.certificate], signer);
  image = buildChipImage({ record: TRAN_THI_MAI, pki, activeAuthentication: false });
});

const failure = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('CSCA master list import', () => {
  it('verifies the signer against the pinned CSCA and returns the CSCAs it carries', () => {
    const imported = importMasterList(masterList, [pki.csca.certificate], now);
    expect(imported.cscas.map((c) => c.subject).sort()).toEqual(
      [pki.csca.certificate.subject, foreign.certificate.subject].sort(),
    );
    expect(imported.summary).toMatchObject({ version: 0, cscaCount: 2 });
  });

  it('refuses a master list whose signer has expired (signer-validity)', () => {
    const expired = issueMasterListSigner(pki.csca, {
      notBefore: new Date(now.getTime() - 400 * DAY),
      notAfter: new Date(now.getTime() - DAY),
    });
    const error = failure(() =>
      importMasterList(buildMasterList([foreign.certificate], expired), [pki.csca.certificate], now),
    );
    expect(error).toBeInstanceOf(TrustListError);
    expect((error as TrustListError).check).toBe('signer-validity');
  });

  it('refuses a signer no pinned CSCA issued (signer-trust)', () => {
    const rogue = issueMasterListSigner(foreign, validity);
    const error = failure(() =>
      importMasterList(buildMasterList([foreign.certificate], rogue), [pki.csca.certificate], now),
    );
    expect((error as TrustListError).check).toBe('signer-trust');
  });

  it('refuses a master list whose content was changed after signing (signature)', () => {
    const tampered = Buffer.from(masterList);
    const at = tampered.indexOf(foreign.certificate.raw.subarray(40, 60));
    tampered[at + 5]! ^= 0x01;
    const error = failure(() => importMasterList(tampered, [pki.csca.certificate], now));
    expect(error).toBeInstanceOf(TrustListError);
    expect((error as TrustListError).check).toBe('signature');
  });
});

describe('CRLs in passive authentication', () => {
  it('a revoked document signer fails PA with the CRL reason, read through the emulator', async () => {
    const crl = buildCrl(
      pki.csca,
      [{ certificate: pki.documentSigner.certificate, date: now, reasonCode: 1 }],
      crlValidity,
    );
    const trustList = buildTrustList({
      masterLists: [masterList],
      crls: [crl],
      signerAnchors: [pki.csca.certificate],
      now,
    });
    const result = await readCard(new ChipEmulator(image), {
      access: { kind: 'can', can: image.can },
      trustAnchors: [],
      trustList,
      now,
    });
    expect(result.passive.passed).toBe(false);
    expect(result.passive.failures).toEqual([
      expect.objectContaining({ check: 'ds-revocation', detail: expect.stringContaining('keyCompromise') }),
    ]);
    expect(result.authenticity.authentic).toBe(false);
  });

  it('a revoked CSCA fails PA (csca-revocation) with its reason', () => {
    const crl = buildCrl(
      pki.csca,
      [{ certificate: pki.csca.certificate, date: now, reasonCode: 2 }],
      crlValidity,
    );
    const trustList = buildTrustList({ crls: [crl], signerAnchors: [pki.csca.certificate], now });
    const verdict = verifyPassiveAuthentication({
      sod: image.files.get(0x011d)!,
      dataGroups: new Map(),
      trustAnchors: [],
      trustList,
      now,
    });
    expect(verdict.failures).toEqual([
      expect.objectContaining({ check: 'csca-revocation', detail: expect.stringContaining('cACompromise') }),
    ]);
  });

  it('with the CRL clean, the CSCA from the master list alone makes PA pass', () => {
    const crl = buildCrl(pki.csca, [], crlValidity);
    const trustList = buildTrustList({
      masterLists: [masterList],
      crls: [crl],
      signerAnchors: [pki.csca.certificate],
      now,
    });
    const verdict = verifyPassiveAuthentication({
      sod: image.files.get(0x011d)!,
      dataGroups: new Map(),
      trustAnchors: [],
      trustList,
      now,
    });
    expect(verdict.passed).toBe(true);
    expect(verdict.checks.map((c) => c.check)).toContain('ds-revocation');
  });

  it('refuses a CRL from an issuer that is not a trusted CSCA, and one with a broken signature', () => {
    const stranger = issueForeignCsca('ZZ');
    expect(
      (
        failure(() =>
          importCrl(buildCrl(stranger, [], crlValidity), [pki.csca.certificate], now),
        ) as TrustListError
      ).check,
    ).toBe('crl-issuer');
    const broken = buildCrl(pki.csca, [], crlValidity);
    broken[broken.length - 3]! ^= 0x01;
    expect((failure(() => importCrl(broken, [pki.csca.certificate], now)) as TrustListError).check).toBe(
      'crl-signature',
    );
  });

  it('describes the trust list for `kiosk card trust`', () => {
    const crl = buildCrl(
      pki.csca,
      [{ certificate: pki.documentSigner.certificate, date: now, reasonCode: 1 }],
      crlValidity,
    );
    const lines = describeTrustList(
      buildTrustList({ masterLists: [masterList], crls: [crl], signerAnchors: [pki.csca.certificate], now }),
      now,
    );
    expect(lines[0]).toBe('CSCAs trusted: 2');
    expect(lines).toContain('master lists: 1');
    expect(lines.some((l) => l.includes('1 revoked'))).toBe(true);
  });
});

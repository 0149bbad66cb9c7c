/**
 * Fuzz (fast-check) of the PACE/CA/trust-list parsers: EF.CardAccess, DG14 (SecurityInfos and the
 * Chip Authentication key), GENERAL AUTHENTICATE data, CSCA master lists and CRLs. Only the card
 * stack's typed errors may come out. `npm test` runs 2,000 inputs each (300 for the signed
 * master lists and CRLs); `npm run fuzz:card`
 * (FUZZ_RUNS=100000) runs 100,000.
 */
import { type X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { chipAuthenticationKey } from '../../../src/card/ca.js';
import { LDS_FILES } from '../../../src/card/files.js';
import { parseDynamicAuthentication } from '../../../src/card/pace.js';
import { parseCardAccess, parseDg14SecurityInfos } from '../../../src/card/security-infos.js';
import { importCrl, importMasterList } from '../../../src/card/trust-list.js';
import { buildChipImage, cccdCardAccess } from '../../../devices/card-reader/chip-image.js';
import { createTestPki } from '../../../src/demo/test-pki.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import {
  buildCrl,
  buildMasterList,
  issueForeignCsca,
  issueMasterListSigner,
} from '../../../src/demo/trust-list-pki.js';
import { mutationsOf, typedOnly } from './fuzz-inputs.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2_000);
/** master lists and CRLs verify signatures and parse certificates (~5 ms an input): fewer in `npm test` */
const SIGNED_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** the unsigned parsers: up to 1 ms an input on a loaded machine */
const TIMEOUT = Math.max(20_000, RUNS);
/** up to 20 ms an input on a loaded 2-core machine */
const SIGNED_TIMEOUT = Math.max(60_000, SIGNED_RUNS * 20);
const DAY = 86_400_000;

let dg14: Buffer;
let masterList: Buffer;
let crl: Buffer;
let anchors: X509Certificate[];
const now = new Date();

beforeAll(() => {
  const pki = createTestPki();
  dg14 = buildChipImage({ record: TRAN_THI_MAI, pki, activeAuthentication: 'ec' }).files.get(LDS_FILES.DG14)!;
  const signer = issueMasterListSigner(pki.csca, {
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + DAY),
  });
  masterList = buildMasterList([pki.csca.certificate, issueForeignCsca('UT').certificate], signer);
  crl = buildCrl(pki.csca, [{ certificate: pki.documentSigner.certificate, date: now, reasonCode: 1 }], {
    thisUpdate: new Date(now.getTime() - DAY),
    nextUpdate: new Date(now.getTime() + DAY),
  });
  anchors = [pki.csca.certificate];
});

describe('fuzzing the PACE, CA and trust-list parsers', () => {
  it('EF.CardAccess: typed errors only', { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(mutationsOf(cccdCardAccess(13)), (bytes) => typedOnly(() => parseCardAccess(bytes))),
      {
        numRuns: RUNS,
      },
    );
  });

  it('DG14 and its Chip Authentication key: typed errors only', { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(mutationsOf(dg14), (bytes) =>
        typedOnly(() => chipAuthenticationKey(parseDg14SecurityInfos(bytes))),
      ),
      { numRuns: RUNS },
    );
  });

  it('GENERAL AUTHENTICATE dynamic authentication data: typed errors only', { timeout: TIMEOUT }, () => {
    const valid = Buffer.from('7C12801095A3A016522EE98D01E76CB6B98B42C3', 'hex');
    fc.assert(
      fc.property(mutationsOf(valid), (bytes) =>
        typedOnly(() => parseDynamicAuthentication(bytes, 'pace-nonce')),
      ),
      { numRuns: RUNS },
    );
  });

  it('CSCA master lists: typed errors only', { timeout: SIGNED_TIMEOUT }, () => {
    fc.assert(
      fc.property(mutationsOf(masterList), (bytes) => typedOnly(() => importMasterList(bytes, anchors, now))),
      {
        numRuns: SIGNED_RUNS,
      },
    );
  });

  it('CRLs: typed errors only', { timeout: SIGNED_TIMEOUT }, () => {
    // found by this fuzz (23,915th input): an issuer Name the ASN.1 library parses but cannot re-encode
    const found = Buffer.from(crl);
    found[0] = 0xa0;
    typedOnly(() => importCrl(found, anchors, now));
    fc.assert(
      fc.property(mutationsOf(crl), (bytes) => typedOnly(() => importCrl(bytes, anchors, now))),
      {
        numRuns: SIGNED_RUNS,
      },
    );
  });
});

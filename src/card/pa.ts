import { X509Certificate, constants, createHash, verify } from 'node:crypto';
import { constantTimeEquals } from './compare.js';
import { SodError } from './errors.js';
import { OID_LDS_SECURITY_OBJECT, type ParsedSod, SIGNATURE_OIDS, parseSod } from './sod.js';
import { type TrustList, revocationOf } from './trust-list.js';

/**
 * Passive authentication (ICAO 9303 part 11 §5.1): the data groups read are the ones the document
 * signer hashed, the DS signed them, and the DS chains to a trusted CSCA. A failed check is a verdict,
 * not an exception: the kiosk shows which one failed.
 */
export type PaCheckName =
  | 'sod-structure'
  | 'dg-hash'
  | 'content-type'
  | 'message-digest'
  | 'signature'
  | 'ds-certificate'
  | 'ds-trust'
  | 'ds-validity'
  | 'csca-validity'
  | 'ds-revocation'
  | 'csca-revocation';

export interface PaCheck {
  check: PaCheckName;
  passed: boolean;
  /** the data group, for `dg-hash` */
  dataGroup?: number;
  detail?: string;
}

export interface PaVerdict {
  passed: boolean;
  checks: PaCheck[];
  /** the failed checks only, for messages and logs */
  failures: PaCheck[];
}

/** Splits a PEM bundle into certificates; throws `SodError` when one does not parse. */
export function parseTrustList(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new SodError('a CSCA certificate in the trust list does not parse', { cause: error });
    }
  });
}

function within(certificate: X509Certificate, now: Date): boolean {
  return now >= new Date(certificate.validFrom) && now <= new Date(certificate.validTo);
}

function verifySignature(sod: ParsedSod, certificate: X509Certificate): boolean {
  const algorithm = SIGNATURE_OIDS[sod.signer.signatureAlgorithm];
  if (!algorithm) return false;
  const hash = algorithm.hash ?? sod.signer.digestAlgorithm;
  try {
    if (algorithm.kind === 'rsa-pss')
      return verify(
        hash,
        sod.signer.signedBytes,
        {
          key: certificate.publicKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_AUTO,
        },
        sod.signer.signature,
      );
    return verify(hash, sod.signer.signedBytes, certificate.publicKey, sod.signer.signature);
  } catch {
    return false; // a key of the wrong type or a malformed signature is a failed signature
  }
}

export interface PaInput {
  sod: Uint8Array;
  /** raw bytes of every data group read, by number */
  dataGroups: ReadonlyMap<number, Uint8Array>;
  trustAnchors: readonly X509Certificate[];
  /** imported master lists and CRLs: its CSCAs are trusted too, its CRLs are checked */
  trustList?: TrustList;
  now?: Date;
}

export function verifyPassiveAuthentication(input: PaInput): PaVerdict {
  const checks: PaCheck[] = [];
  const now = input.now ?? new Date();
  const done = (): PaVerdict => {
    const failures = checks.filter((c) => !c.passed);
    return { passed: failures.length === 0 && checks.length > 0, checks, failures };
  };
  let sod: ParsedSod;
  try {
    sod = parseSod(input.sod);
    checks.push({ check: 'sod-structure', passed: true });
  } catch (error) {
    if (!(error instanceof SodError)) throw error;
    checks.push({ check: 'sod-structure', passed: false, detail: error.message });
    return done();
  }

  for (const [dataGroup, bytes] of [...input.dataGroups.entries()].sort(([a], [b]) => a - b)) {
    const expected = sod.dataGroupHashes.get(dataGroup);
    if (!expected) {
      checks.push({ check: 'dg-hash', dataGroup, passed: false, detail: 'no hash in the SOD' });
      continue;
    }
    const actual = createHash(sod.hashAlgorithm).update(bytes).digest();
    checks.push({
      check: 'dg-hash',
      dataGroup,
      passed: constantTimeEquals(actual, expected),
      ...(constantTimeEquals(actual, expected) ? {} : { detail: 'hash mismatch' }),
    });
  }

  // With signedAttrs the signature covers the attributes, not the LDS security object: only the
  // messageDigest attribute binds the data-group hashes to it (RFC 5652 §5.3, §11.2: it MUST be
  // present then). Without it, any hashes would pass under a genuine signature (issue 12).
  if (sod.signer.hasSignedAttributes) {
    checks.push({ check: 'content-type', passed: sod.signer.contentType === OID_LDS_SECURITY_OBJECT });
    const digest = createHash(sod.signer.digestAlgorithm).update(sod.securityObject).digest();
    const claimed = sod.signer.messageDigest;
    checks.push({
      check: 'message-digest',
      passed: claimed !== undefined && constantTimeEquals(digest, claimed),
      ...(claimed === undefined ? { detail: 'signedAttrs without a messageDigest attribute' } : {}),
    });
  }

  const [certificateDer] = sod.certificates;
  let ds: X509Certificate | undefined;
  try {
    if (certificateDer) ds = new X509Certificate(certificateDer);
  } catch {
    ds = undefined;
  }
  if (!ds) {
    checks.push({
      check: 'ds-certificate',
      passed: false,
      detail: 'no parsable document signer certificate in the SOD',
    });
    return done();
  }
  checks.push({ check: 'ds-certificate', passed: true });
  checks.push({ check: 'signature', passed: verifySignature(sod, ds) });

  const anchors = [...input.trustAnchors, ...(input.trustList?.cscas ?? [])];
  const issuer = anchors.find((csca) => {
    try {
      // a CSCA is a CA certificate (basicConstraints cA); ICAO 9303 part 12 §7.1.1
      return csca.ca && ds.checkIssued(csca) && ds.verify(csca.publicKey);
    } catch {
      return false;
    }
  });
  checks.push({
    check: 'ds-trust',
    passed: issuer !== undefined,
    ...(issuer ? {} : { detail: 'no CSCA in the trust list issued and signed the document signer' }),
  });
  checks.push({
    check: 'ds-validity',
    passed: within(ds, now),
    ...(within(ds, now) ? {} : { detail: `valid ${ds.validFrom} – ${ds.validTo}` }),
  });
  if (issuer) checks.push({ check: 'csca-validity', passed: within(issuer, now) });
  if (input.trustList) {
    // A revoked DS or CSCA fails PA with the CRL's reason (ICAO 9303 part 12 §7.1.4).
    for (const [check, certificate] of [
      ['ds-revocation', ds],
      ['csca-revocation', issuer],
    ] as const) {
      if (!certificate) continue;
      const revoked = revocationOf(certificate, input.trustList.crls);
      checks.push({
        check,
        passed: !revoked,
        ...(revoked
          ? { detail: `revoked ${revoked.date.toISOString().slice(0, 10)}: ${revoked.reason}` }
          : {}),
      });
    }
  }
  return done();
}

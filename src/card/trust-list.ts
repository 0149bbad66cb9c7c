import { X509Certificate, createHash, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, CertificateList } from '@peculiar/asn1-x509';
import { CardError, SodError, TrustListError } from './errors.js';
import { SIGNATURE_OIDS, parseSignedData } from './sod.js';
import { decodeTlv, decodeTlvList } from './tlv.js';

/**
 * The kiosk's trust list (ICAO 9303 part 12): CSCA certificates imported from signed CSCA master
 * lists (part 12 §9, a CMS SignedData of id-icao-cscaMasterList) and CRLs (part 12 §7.1.4, RFC
 * 5280). Passive authentication trusts its CSCAs and fails a DS or CSCA that a CRL revokes.
 */
export const OID_CSCA_MASTER_LIST = '2.23.136.1.1.2';
const OID_CRL_REASON = '2.5.29.21';
/** RFC 5280 §5.3.1 CRLReason */
const CRL_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unused',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;

export interface Revocation {
  date: Date;
  reason: string;
}

export interface Crl {
  /** RFC 4514-ish issuer name, for display */
  issuer: string;
  /** DER of the issuer Name: what a certificate's issuer is matched against */
  issuerDer: Buffer;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** revoked serial numbers (upper-case hex, no leading zeros) */
  revoked: Map<string, Revocation>;
}

export interface MasterListSummary {
  signer: string;
  signerValidTo: string;
  version: number;
  cscaCount: number;
  /** SHA-256 of the master list as imported */
  sha256: string;
}

export interface TrustList {
  cscas: X509Certificate[];
  crls: Crl[];
  masterLists: MasterListSummary[];
}

export const EMPTY_TRUST_LIST: TrustList = { cscas: [], crls: [], masterLists: [] };

function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^(00)+(?=.)/, '');
}

/** DER of a certificate's subject or issuer Name; empty when the ASN.1 library cannot redo it. */
function nameDer(certificate: X509Certificate, which: 'subject' | 'issuer'): Buffer {
  try {
    const tbs = AsnConvert.parse(certificate.raw, Certificate).tbsCertificate;
    return Buffer.from(AsnConvert.serialize(which === 'subject' ? tbs.subject : tbs.issuer));
  } catch {
    return Buffer.alloc(0);
  }
}

function within(certificate: X509Certificate, now: Date): boolean {
  return now >= new Date(certificate.validFrom) && now <= new Date(certificate.validTo);
}

function verifyWith(
  algorithmOid: string,
  data: Buffer,
  certificate: X509Certificate,
  signature: Buffer,
): boolean {
  const algorithm = SIGNATURE_OIDS[algorithmOid];
  if (!algorithm?.hash || algorithm.kind === 'rsa-pss') return false;
  try {
    return verify(algorithm.hash, data, certificate.publicKey, signature);
  } catch {
    return false;
  }
}

function issuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return issuer.ca && certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** CscaMasterList ::= SEQUENCE { version INTEGER, certList SET OF Certificate } */
function parseMasterListContent(content: Buffer): { version: number; certificates: X509Certificate[] } {
  const top = decodeTlv(content, 0, 'CscaMasterList');
  const [version, certList, extra] = decodeTlvList(top.value, 'CscaMasterList');
  if (
    top.tag !== 0x30 ||
    version?.tag !== 0x02 ||
    certList?.tag !== 0x31 ||
    extra ||
    version.value.length !== 1
  )
    throw new TrustListError('structure', 'CscaMasterList is not SEQUENCE { INTEGER, SET OF Certificate }');
  const certificates: X509Certificate[] = [];
  let offset = 0;
  while (offset < certList.value.length) {
    const element = decodeTlv(certList.value, offset, 'CscaMasterList');
    try {
      certificates.push(new X509Certificate(certList.value.subarray(offset, offset + element.length)));
    } catch {
      throw new TrustListError('structure', `certificate ${certificates.length + 1} does not parse`);
    }
    offset += element.length;
  }
  return { version: version.value[0]!, certificates };
}

/** Wraps the parsing layers' errors (ASN.1 library, TLV, CMS) into `TrustListError`. */
function structural<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof TrustListError) throw error;
    const detail = error instanceof CardError ? error.message : 'malformed ASN.1';
    throw new TrustListError(
      error instanceof SodError && /not id|not 2\.23/.test(detail) ? 'content-type' : 'structure',
      `${what}: ${detail}`,
    );
  }
}

export interface MasterListImport {
  cscas: X509Certificate[];
  summary: MasterListSummary;
}

/**
 * Verifies and opens a CSCA master list: CMS SignedData of id-icao-cscaMasterList whose signer
 * (the Master List Signer certificate it carries) is valid now, was issued by one of `signerAnchors`
 * (the CSCAs operations configured to vouch for master lists), and signed the content
 * (contentType and messageDigest attributes required). Throws `TrustListError` naming the check.
 */
export function importMasterList(
  der: Uint8Array,
  signerAnchors: readonly X509Certificate[],
  now: Date = new Date(),
): MasterListImport {
  const bytes = Buffer.from(der);
  const signed = structural('master list', () => parseSignedData(bytes, OID_CSCA_MASTER_LIST));
  const { signer } = signed;
  if (signer.contentType !== OID_CSCA_MASTER_LIST)
    throw new TrustListError('content-type', 'the signed contentType attribute is not a master list');
  const digest = createHash(signer.digestAlgorithm).update(signed.content).digest();
  if (!signer.messageDigest || !digest.equals(signer.messageDigest))
    throw new TrustListError('signature', 'messageDigest does not match the master list');
  const signerCertificates = signed.certificates.flatMap((c) => {
    try {
      return [new X509Certificate(c)];
    } catch {
      return [];
    }
  });
  const signerCertificate = signerCertificates.find((c) => {
    const algorithm = SIGNATURE_OIDS[signer.signatureAlgorithm];
    if (!algorithm) return false;
    try {
      return verify(
        algorithm.hash ?? signer.digestAlgorithm,
        signer.signedBytes,
        c.publicKey,
        signer.signature,
      );
    } catch {
      return false;
    }
  });
  if (!signerCertificate)
    throw new TrustListError('signature', 'no certificate in the master list verifies its signature');
  if (!signerAnchors.some((anchor) => issuedBy(signerCertificate, anchor)))
    throw new TrustListError('signer-trust', 'the master list signer was not issued by a configured CSCA');
  if (!within(signerCertificate, now))
    throw new TrustListError(
      'signer-validity',
      `the master list signer is valid ${signerCertificate.validFrom} – ${signerCertificate.validTo}`,
    );
  const { version, certificates } = structural('master list content', () =>
    parseMasterListContent(signed.content),
  );
  return {
    cscas: certificates,
    summary: {
      signer: signerCertificate.subject.replace(/\n/g, ', '),
      signerValidTo: new Date(signerCertificate.validTo).toISOString(),
      version,
      cscaCount: certificates.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    },
  };
}

/** Opens a CRL and checks its signature against the CSCA that issued it (RFC 5280 §6.3). */
export function importCrl(der: Uint8Array, issuers: readonly X509Certificate[], now: Date = new Date()): Crl {
  const bytes = Buffer.from(der);
  const { crl, tbs, issuerName } = structural('CRL', () => {
    const parsed = AsnConvert.parse(bytes, CertificateList);
    const [tbsElement] = decodeTlvList(decodeTlv(bytes, 0, 'CRL').value, 'CRL');
    if (!tbsElement) throw new TrustListError('structure', 'CRL without tbsCertList');
    const outer = decodeTlv(bytes, 0, 'CRL');
    const start = outer.length - outer.value.length;
    return {
      crl: parsed,
      tbs: bytes.subarray(start, start + tbsElement.length),
      issuerName: Buffer.from(AsnConvert.serialize(parsed.tbsCertList.issuer)),
    };
  });
  const issuer = issuers.find((c) => c.ca && nameDer(c, 'subject').equals(issuerName));
  if (!issuer) throw new TrustListError('crl-issuer', 'the CRL issuer is not a trusted CSCA');
  if (!verifyWith(crl.signatureAlgorithm.algorithm, tbs, issuer, Buffer.from(crl.signature)))
    throw new TrustListError('crl-signature', 'the CRL signature does not verify against its CSCA');
  const thisUpdate = crl.tbsCertList.thisUpdate.getTime();
  const nextUpdate = crl.tbsCertList.nextUpdate?.getTime();
  if (thisUpdate > now) throw new TrustListError('crl-validity', 'the CRL is dated in the future');
  const revoked = new Map<string, Revocation>();
  for (const entry of crl.tbsCertList.revokedCertificates ?? []) {
    const reasonExtension = entry.crlEntryExtensions?.find((e) => e.extnID === OID_CRL_REASON);
    const reasonCode = reasonExtension ? Buffer.from(reasonExtension.extnValue.buffer).at(-1) : undefined;
    revoked.set(normalizeSerial(Buffer.from(entry.userCertificate).toString('hex')), {
      date: entry.revocationDate.getTime(),
      reason: (reasonCode === undefined ? undefined : CRL_REASONS[reasonCode]) ?? 'unspecified',
    });
  }
  return {
    issuer: issuer.subject.replace(/\n/g, ', '),
    issuerDer: issuerName,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    revoked,
  };
}

/** The revocation of `certificate` in any CRL from its issuer, if there is one. */
export function revocationOf(certificate: X509Certificate, crls: readonly Crl[]): Revocation | undefined {
  const issuer = nameDer(certificate, 'issuer');
  if (issuer.length === 0) return undefined;
  const serial = normalizeSerial(certificate.serialNumber);
  for (const crl of crls) {
    if (!crl.issuerDer.equals(issuer)) continue;
    const hit = crl.revoked.get(serial);
    if (hit) return hit;
  }
  return undefined;
}

export interface TrustListSources {
  masterLists?: readonly Uint8Array[];
  crls?: readonly Uint8Array[];
  /** CSCAs that vouch for master lists (and are trusted themselves) */
  signerAnchors: readonly X509Certificate[];
  now?: Date;
}

/** Imports every master list, then every CRL against the CSCAs now known. */
export function buildTrustList(sources: TrustListSources): TrustList {
  const now = sources.now ?? new Date();
  const cscas = [...sources.signerAnchors];
  const masterLists: MasterListSummary[] = [];
  for (const ml of sources.masterLists ?? []) {
    const imported = importMasterList(ml, sources.signerAnchors, now);
    for (const csca of imported.cscas) if (!cscas.some((c) => c.raw.equals(csca.raw))) cscas.push(csca);
    masterLists.push(imported.summary);
  }
  const crls = (sources.crls ?? []).map((crl) => importCrl(crl, cscas, now));
  return { cscas, crls, masterLists };
}

/** Lines for `kiosk card trust`: what is trusted, from where, and what is revoked. No PII here. */
export function describeTrustList(list: TrustList, now: Date = new Date()): string[] {
  const lines = [`CSCAs trusted: ${list.cscas.length}`];
  for (const csca of list.cscas)
    lines.push(
      `  ${csca.subject.replace(/\n/g, ', ')} — serial ${csca.serialNumber}, valid to ${new Date(csca.validTo).toISOString().slice(0, 10)}${within(csca, now) ? '' : ' (NOT VALID NOW)'}`,
    );
  lines.push(`master lists: ${list.masterLists.length}`);
  for (const ml of list.masterLists)
    lines.push(
      `  v${ml.version}, ${ml.cscaCount} CSCAs, signed by ${ml.signer} (to ${ml.signerValidTo.slice(0, 10)}), sha256 ${ml.sha256.slice(0, 16)}…`,
    );
  lines.push(`CRLs: ${list.crls.length}`);
  for (const crl of list.crls)
    lines.push(
      `  ${crl.issuer}: ${crl.revoked.size} revoked, this update ${crl.thisUpdate.toISOString().slice(0, 10)}${crl.nextUpdate ? `, next ${crl.nextUpdate.toISOString().slice(0, 10)}${crl.nextUpdate < now ? ' (OVERDUE)' : ''}` : ''}`,
    );
  return lines;
}

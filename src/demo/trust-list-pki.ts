import { type X509Certificate, generateKeyPairSync, sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  Certificate,
  CertificateList,
  Extension,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
} from '@peculiar/asn1-x509';
import { OID_CSCA_MASTER_LIST } from '../card/trust-list.js';
import { buildSignedData } from '../card/sod.js';
import { encodeTlv } from '../card/tlv.js';
import { type TestAuthority, issueCertificate } from './test-pki.js';

/**
 * Test PKI for the trust list (demo and tests only; never a real authority): a master-list
 * signer issued by a CSCA operations pin, CSCA master lists (ICAO 9303 part 12 §9) and CRLs
 * (RFC 5280 §5) built with the same ASN.1 library the kiosk parses them with.
 */
const DAY = 86_400_000;

export function issueMasterListSigner(
  anchor: TestAuthority,
  validity: { notBefore: Date; notAfter: Date },
): TestAuthority {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = issueCertificate({
    commonName: 'Test Master List Signer',
    publicKey: keys.publicKey,
    signingKey: anchor.privateKey,
    issuer: anchor,
    ca: false,
    ...validity,
  });
  return { privateKey: keys.privateKey, certificate: issued.certificate, der: issued.der };
}

/** A CSCA of another (fictional) state, for master-list contents. */
export function issueForeignCsca(country: string, now = new Date()): TestAuthority {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = issueCertificate({
    commonName: `Test CSCA ${country}`,
    country,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    ca: true,
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + 3650 * DAY),
  });
  return { privateKey: keys.privateKey, certificate: issued.certificate, der: issued.der };
}

/** ContentInfo(SignedData(id-icao-cscaMasterList, CscaMasterList { v0, SET OF Certificate })). */
export function buildMasterList(cscas: readonly X509Certificate[], signer: TestAuthority): Buffer {
  const certificates = [...cscas].map((c) => c.raw).sort(Buffer.compare);
  const content = encodeTlv(0x30, encodeTlv(0x02, Buffer.from([0])), encodeTlv(0x31, ...certificates));
  return buildSignedData({
    eContentType: OID_CSCA_MASTER_LIST,
    content,
    hashAlgorithm: 'sha256',
    signerKey: signer.privateKey,
    signerCertificate: signer.der,
  });
}

export interface RevokedEntry {
  certificate: X509Certificate;
  date: Date;
  /** RFC 5280 CRLReason code: 1 keyCompromise, 2 cACompromise, 4 superseded, … */
  reasonCode: number;
}

function arrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

/** A v2 CRL signed by `issuer` (ecdsa-with-SHA256), with a reason code on each entry. */
export function buildCrl(
  issuer: TestAuthority,
  revoked: readonly RevokedEntry[],
  validity: { thisUpdate: Date; nextUpdate: Date },
): Buffer {
  const algorithm = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: algorithm,
    issuer: AsnConvert.parse(issuer.der, Certificate).tbsCertificate.subject,
    thisUpdate: new Time(validity.thisUpdate),
    nextUpdate: new Time(validity.nextUpdate),
    ...(revoked.length
      ? {
          revokedCertificates: revoked.map(
            (entry) =>
              new RevokedCertificate({
                userCertificate: arrayBuffer(Buffer.from(entry.certificate.serialNumber, 'hex')),
                revocationDate: new Time(entry.date),
                crlEntryExtensions: [
                  new Extension({
                    extnID: '2.5.29.21',
                    critical: false,
                    extnValue: new OctetString(Buffer.from([0x0a, 0x01, entry.reasonCode])),
                  }),
                ],
              }),
          ),
        }
      : {}),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign('sha256', tbsDer, issuer.privateKey);
  return Buffer.from(
    AsnConvert.serialize(
      new CertificateList({
        tbsCertList: tbs,
        signatureAlgorithm: algorithm,
        signature: arrayBuffer(signature),
      }),
    ),
  );
}

import { type KeyObject, createHash, sign as signBytes } from 'node:crypto';
import {
  Attribute,
  CertificateChoices,
  CertificateSet,
  ContentInfo,
  DigestAlgorithmIdentifiers,
  EncapsulatedContent,
  EncapsulatedContentInfo,
  IssuerAndSerialNumber,
  SignedData,
  SignerIdentifier,
  SignerInfo,
  SignerInfos,
  id_signedData,
} from '@peculiar/asn1-cms';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate } from '@peculiar/asn1-x509';
import { CardError, SodError } from './errors.js';
import { decodeOid } from './lds.js';
import { decodeTlv, decodeTlvList, encodeTlv } from './tlv.js';

/** id-icao-mrtd-security-ldsSecurityObject (ICAO 9303 part 10 §4.6.2.2). */
export const OID_LDS_SECURITY_OBJECT = '2.23.136.1.1.1';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';

export type HashName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
export const HASH_OIDS: Readonly<Record<string, HashName>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
export function hashOid(name: HashName): string {
  return Object.entries(HASH_OIDS).find(([, n]) => n === name)![0];
}

/** Signature algorithms a document signer may use (RFC 5754, RFC 4055, RFC 5758). */
export const SIGNATURE_OIDS: Readonly<
  Record<string, { kind: 'rsa' | 'rsa-pss' | 'ecdsa'; hash?: HashName }>
> = {
  '1.2.840.113549.1.1.1': { kind: 'rsa' },
  '1.2.840.113549.1.1.5': { kind: 'rsa', hash: 'sha1' },
  '1.2.840.113549.1.1.14': { kind: 'rsa', hash: 'sha224' },
  '1.2.840.113549.1.1.11': { kind: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'rsa', hash: 'sha512' },
  '1.2.840.113549.1.1.10': { kind: 'rsa-pss' },
  '1.2.840.10045.4.1': { kind: 'ecdsa', hash: 'sha1' },
  '1.2.840.10045.4.3.1': { kind: 'ecdsa', hash: 'sha224' },
  '1.2.840.10045.4.3.2': { kind: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { kind: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { kind: 'ecdsa', hash: 'sha512' },
};

export interface ParsedSod {
  /** hash algorithm of the data-group hashes (LDSSecurityObject.hashAlgorithm) */
  hashAlgorithm: HashName;
  dataGroupHashes: Map<number, Buffer>;
  /** the encapsulated LDSSecurityObject bytes (what messageDigest covers) */
  securityObject: Buffer;
  signer: {
    digestAlgorithm: HashName;
    signatureAlgorithm: string;
    signature: Buffer;
    /** the DER bytes the signature covers: signedAttrs with its [0] tag replaced by SET (RFC 5652 §5.4) */
    signedBytes: Buffer;
    /** whether the SignerInfo has signedAttrs (then the signature covers them, not the content) */
    hasSignedAttributes: boolean;
    messageDigest?: Buffer;
    contentType?: string;
  };
  /** DER of the document signer certificate(s) carried in the SOD */
  certificates: Buffer[];
}

function toBuffer(data: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(data);
}

function parseSecurityObject(bytes: Buffer): { hashAlgorithm: HashName; hashes: Map<number, Buffer> } {
  const file = 'LDSSecurityObject';
  const top = decodeTlv(bytes, 0, file);
  if (top.tag !== 0x30) throw new SodError('LDSSecurityObject is not a SEQUENCE');
  const [version, algorithm, hashes] = decodeTlvList(top.value, file);
  if (
    !version ||
    version.tag !== 0x02 ||
    !algorithm ||
    algorithm.tag !== 0x30 ||
    !hashes ||
    hashes.tag !== 0x30
  )
    throw new SodError('LDSSecurityObject lacks version, hash algorithm or hash values');
  const algorithmId = AsnConvert.parse(encodeTlv(0x30, algorithm.value), AlgorithmIdentifier).algorithm;
  const hashAlgorithm = HASH_OIDS[algorithmId];
  if (!hashAlgorithm) throw new SodError(`unsupported hash algorithm ${algorithmId}`);
  const map = new Map<number, Buffer>();
  for (const entry of decodeTlvList(hashes.value, file)) {
    const [number, value] = decodeTlvList(entry.value, file);
    if (
      entry.tag !== 0x30 ||
      !number ||
      number.tag !== 0x02 ||
      number.value.length !== 1 ||
      !value ||
      value.tag !== 0x04
    )
      throw new SodError('malformed DataGroupHash');
    map.set(number.value[0]!, Buffer.from(value.value));
  }
  return { hashAlgorithm, hashes: map };
}

/** Parses EF.SOD (ICAO 9303 part 10 §4.6.2: tag 77 around a CMS SignedData, RFC 5652). */
export function parseSod(bytes: Uint8Array): ParsedSod {
  try {
    return parseSodUnchecked(bytes);
  } catch (error) {
    if (error instanceof SodError) throw error;
    // The ASN.1 library throws plain Errors on malformed input; our TLV layer throws LdsError.
    throw new SodError(
      `EF.SOD does not parse: ${error instanceof CardError ? error.message : 'malformed ASN.1'}`,
      { cause: error },
    );
  }
}

function parseSodUnchecked(bytes: Uint8Array): ParsedSod {
  const outer = decodeTlv(bytes, 0, 'EF.SOD');
  if (outer.tag !== 0x77) throw new SodError(`EF.SOD starts with tag ${outer.tag.toString(16)}`);
  const signed = parseSignedData(Buffer.from(outer.value), OID_LDS_SECURITY_OBJECT);
  const { hashAlgorithm, hashes } = parseSecurityObject(signed.content);
  return {
    hashAlgorithm,
    dataGroupHashes: hashes,
    securityObject: signed.content,
    signer: signed.signer,
    certificates: signed.certificates,
  };
}

export interface ParsedSignedData {
  /** the encapsulated content (eContent's octets) */
  content: Buffer;
  signer: ParsedSod['signer'];
  /** DER of the certificates carried in SignedData.certificates */
  certificates: Buffer[];
}

/**
 * A CMS SignedData with one signer (RFC 5652) whose eContentType must be `eContentType`: EF.SOD's
 * LDSSecurityObject, or a CSCA master list (ICAO 9303 part 12 §9). Throws `SodError` or the
 * ASN.1 library's errors; callers wrap those into their layer's class.
 */
export function parseSignedData(contentInfoDer: Buffer, eContentType: string): ParsedSignedData {
  const parts = signedDataParts(contentInfoDer);
  const encapContentInfo = AsnConvert.parse(parts.encapContentInfo, EncapsulatedContentInfo);
  if (encapContentInfo.eContentType !== eContentType)
    throw new SodError(`encapsulated content is not ${eContentType}`);
  const signerInfos = parts.signerInfos.map((der) => AsnConvert.parse(der, SignerInfo));
  const eContent = encapContentInfo.eContent;
  const raw = eContent?.single
    ? toBuffer(eContent.single.buffer)
    : eContent?.any
      ? toBuffer(eContent.any)
      : undefined;
  if (!raw) throw new SodError('encapsulated content missing');
  // eContent.any holds a constructed OCTET STRING's raw encoding; only the primitive form is DER.
  const content = Buffer.from(eContent?.single ? raw : decodeTlv(raw, 0, 'eContent').value);
  const signerInfo = signerInfos[0];
  if (!signerInfo || signerInfos.length !== 1)
    throw new SodError(`${signerInfos.length} signer infos, expected 1`);
  const digestAlgorithm = HASH_OIDS[signerInfo.digestAlgorithm.algorithm];
  if (!digestAlgorithm)
    throw new SodError(`unsupported digest algorithm ${signerInfo.digestAlgorithm.algorithm}`);
  let signedBytes: Buffer = content;
  let messageDigest: Buffer | undefined;
  let contentType: string | undefined;
  if (signerInfo.signedAttrs) {
    signedBytes = signedAttributesAsSet(parts.signerInfos[0]!);
    for (const attribute of signerInfo.signedAttrs) {
      const value = attribute.attrValues[0];
      if (!value) continue;
      const tlv = decodeTlv(toBuffer(value), 0, 'signed attribute');
      if (attribute.attrType === OID_MESSAGE_DIGEST && tlv.tag === 0x04)
        messageDigest = Buffer.from(tlv.value);
      if (attribute.attrType === OID_CONTENT_TYPE)
        contentType = AsnConvert.parse(
          encodeTlv(0x30, encodeTlv(0x06, tlv.value)),
          AlgorithmIdentifier,
        ).algorithm;
    }
  }
  return {
    content,
    signer: {
      digestAlgorithm,
      signatureAlgorithm: signerInfo.signatureAlgorithm.algorithm,
      signature: toBuffer(signerInfo.signature.buffer),
      signedBytes,
      hasSignedAttributes: signerInfo.signedAttrs !== undefined,
      messageDigest,
      contentType,
    },
    // The certificates' exact bytes (re-encoding a parsed certificate could change what was signed).
    certificates: parts.certificates ? certificateBytes(parts.certificates) : [],
  };
}

export interface SodSigningInput {
  dataGroups: ReadonlyMap<number, Uint8Array>;
  hashAlgorithm: HashName;
  /** document signer private key (RSA or EC) and its certificate (DER) */
  signerKey: KeyObject;
  signerCertificate: Uint8Array;
  /** test fixtures only: signedAttrs without messageDigest, the forgery issue 12 closes */
  omitMessageDigest?: boolean;
}

function encodeAlgorithm(oid: string, withNullParameters: boolean): Buffer {
  const params = withNullParameters ? { algorithm: oid, parameters: null } : { algorithm: oid };
  return Buffer.from(AsnConvert.serialize(new AlgorithmIdentifier(params)));
}

/** Builds EF.SOD: the encoder beside `parseSod`, used by the chip emulator and test fixtures. */
export function buildSod(input: SodSigningInput): Buffer {
  const hash = input.hashAlgorithm;
  const hashEntries = [...input.dataGroups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([n, bytes]) =>
      encodeTlv(
        0x30,
        encodeTlv(0x02, Buffer.from([n])),
        encodeTlv(0x04, createHash(hash).update(bytes).digest()),
      ),
    );
  const securityObject = encodeTlv(
    0x30,
    encodeTlv(0x02, Buffer.from([0])),
    encodeAlgorithm(hashOid(hash), false),
    encodeTlv(0x30, ...hashEntries),
  );
  return encodeTlv(
    0x77,
    buildSignedData({
      eContentType: OID_LDS_SECURITY_OBJECT,
      content: securityObject,
      hashAlgorithm: hash,
      signerKey: input.signerKey,
      signerCertificate: input.signerCertificate,
      ...(input.omitMessageDigest ? { omitMessageDigest: true } : {}),
    }),
  );
}

export interface SignedDataInput {
  eContentType: string;
  content: Buffer;
  hashAlgorithm: HashName;
  signerKey: KeyObject;
  signerCertificate: Uint8Array;
  /** test fixtures only: signedAttrs without messageDigest */
  omitMessageDigest?: boolean;
}

/** ContentInfo(SignedData) with signed attributes and the signer's certificate (RFC 5652). */
export function buildSignedData(input: SignedDataInput): Buffer {
  const hash = input.hashAlgorithm;
  const certificate = AsnConvert.parse(input.signerCertificate, Certificate);
  const keyType = input.signerKey.asymmetricKeyType;
  const signatureOid = Object.entries(SIGNATURE_OIDS).find(
    ([, v]) => v.hash === hash && v.kind === (keyType === 'ec' ? 'ecdsa' : 'rsa'),
  )![0];
  const signedAttrs = [
    new Attribute({ attrType: OID_CONTENT_TYPE, attrValues: [encodeOidValue(input.eContentType)] }),
    ...(input.omitMessageDigest
      ? []
      : [
          new Attribute({
            attrType: OID_MESSAGE_DIGEST,
            attrValues: [toArrayBuffer(encodeTlv(0x04, createHash(hash).update(input.content).digest()))],
          }),
        ]),
  ];
  const signerInfo = new SignerInfo({
    version: 1,
    sid: new SignerIdentifier({
      issuerAndSerialNumber: new IssuerAndSerialNumber({
        issuer: certificate.tbsCertificate.issuer,
        serialNumber: certificate.tbsCertificate.serialNumber,
      }),
    }),
    digestAlgorithm: AsnConvert.parse(encodeAlgorithm(hashOid(hash), false), AlgorithmIdentifier),
    signedAttrs,
    signatureAlgorithm: AsnConvert.parse(
      encodeAlgorithm(signatureOid, keyType !== 'ec'),
      AlgorithmIdentifier,
    ),
    signature: new OctetString(0),
  });
  // Sign the DER of the signed attributes as a SET (RFC 5652 §5.4): serialise, reparse, re-tag.
  const toSign = signedAttributesAsSet(Buffer.from(AsnConvert.serialize(signerInfo)));
  signerInfo.signature = new OctetString(signBytes(hash, toSign, input.signerKey));
  const signedData = new SignedData({
    version: 3,
    digestAlgorithms: new DigestAlgorithmIdentifiers([signerInfo.digestAlgorithm]),
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: input.eContentType,
      eContent: new EncapsulatedContent({ single: new OctetString(input.content) }),
    }),
    certificates: new CertificateSet([new CertificateChoices({ certificate })]),
    signerInfos: new SignerInfos([signerInfo]),
  });
  const contentInfo = new ContentInfo({
    contentType: id_signedData,
    content: AsnConvert.serialize(signedData),
  });
  return Buffer.from(AsnConvert.serialize(contentInfo));
}

/**
 * ContentInfo → [0] → SignedData split into its fields as exact bytes (RFC 5652 §3, §5.1):
 * version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos, in
 * that order. The fields the checks read (encapContentInfo, each SignerInfo) are then parsed
 * by the ASN.1 library; the certificates stay bytes, for node:crypto's X509Certificate to
 * parse where they are used, instead of a second full ASN.1 parse of each one here.
 */
function signedDataParts(contentInfoDer: Buffer): {
  encapContentInfo: Buffer;
  certificates?: Buffer;
  signerInfos: Buffer[];
} {
  const contentInfo = decodeTlv(contentInfoDer, 0, 'ContentInfo');
  const [contentType, explicit] = decodeTlvList(contentInfo.value, 'ContentInfo');
  if (contentInfo.tag !== 0x30 || contentType?.tag !== 0x06 || explicit?.tag !== 0xa0)
    throw new SodError('ContentInfo is not SEQUENCE { contentType, [0] content }');
  if (decodeOid(contentType.value, 'ContentInfo') !== id_signedData)
    throw new SodError('not a CMS SignedData');
  const signedData = decodeTlv(explicit.value, 0, 'SignedData');
  if (signedData.tag !== 0x30) throw new SodError('SignedData is not a SEQUENCE');
  const fields = elementsOf(signedData.value, 'SignedData');
  const [version, digestAlgorithms, encap] = fields;
  const last = fields.at(-1);
  const optional = fields.slice(3, -1);
  if (
    version?.tag !== 0x02 ||
    digestAlgorithms?.tag !== 0x31 ||
    encap?.tag !== 0x30 ||
    fields.length < 4 ||
    last?.tag !== 0x31 ||
    optional.length > 2 ||
    !optional.every((f, i) => f.tag === 0xa0 + i || (i === 0 && f.tag === 0xa1))
  )
    throw new SodError('SignedData fields out of order or missing');
  const certificates = optional.find((f) => f.tag === 0xa0);
  return {
    encapContentInfo: encap.bytes,
    ...(certificates ? { certificates: certificates.value } : {}),
    signerInfos: elementsOf(last.value, 'SignerInfos').map((e) => e.bytes),
  };
}

/** The TLV elements of `value` with their exact encodings. */
function elementsOf(value: Buffer, file: string): Array<{ tag: number; value: Buffer; bytes: Buffer }> {
  const out: Array<{ tag: number; value: Buffer; bytes: Buffer }> = [];
  for (let offset = 0; offset < value.length;) {
    const element = decodeTlv(value, offset, file);
    out.push({
      tag: element.tag,
      value: element.value,
      bytes: value.subarray(offset, offset + element.length),
    });
    offset += element.length;
  }
  return out;
}

/** The DER of each certificate in SignedData.certificates ([0] IMPLICIT SET OF CertificateChoices). */
function certificateBytes(set: Buffer): Buffer[] {
  return elementsOf(set, 'certificates')
    .filter((element) => element.tag === 0x30)
    .map((element) => Buffer.from(element.bytes));
}

/** RFC 5652 §5.4: the signature covers signedAttrs DER-encoded with an explicit SET OF tag. */
function signedAttributesAsSet(signerInfoDer: Buffer): Buffer {
  const signerInfo = decodeTlv(signerInfoDer, 0, 'SignerInfo');
  const attributes = decodeTlvList(signerInfo.value, 'SignerInfo').find((t) => t.tag === 0xa0);
  if (!attributes) throw new SodError('SignerInfo has no signed attributes');
  return encodeTlv(0x31, attributes.value);
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function encodeOidValue(oid: string): ArrayBuffer {
  // AlgorithmIdentifier's first element is exactly the OBJECT IDENTIFIER encoding we need.
  const algorithm = encodeAlgorithm(oid, false);
  return toArrayBuffer(Buffer.from(decodeTlv(algorithm, 0).value));
}

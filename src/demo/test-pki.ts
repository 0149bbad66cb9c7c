import {
  type KeyObject,
  X509Certificate,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_basicConstraints,
} from '@peculiar/asn1-x509';

/**
 * A throw-away PKI for emulated chips and tests: a CSCA and a document signer, generated at run
 * time, never committed. Certificates are built with the same ASN.1 library the reader parses
 * them with (STYLE.md practice 12). Test use only.
 */
export interface TestAuthority {
  privateKey: KeyObject;
  certificate: X509Certificate;
  der: Buffer;
}

export interface CertificateRequest {
  commonName: string;
  country?: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  issuer?: TestAuthority;
  /** signs with this key (defaults to the issuer's; self-signed when there is no issuer) */
  signingKey: KeyObject;
}

function name(commonName: string, country: string): Name {
  const rdn = (type: string, value: AttributeValue) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
  return new Name([
    rdn('2.5.4.6', new AttributeValue({ printableString: country })),
    rdn('2.5.4.3', new AttributeValue({ utf8String: commonName })),
  ]);
}

function signatureAlgorithm(key: KeyObject): AlgorithmIdentifier {
  return key.asymmetricKeyType === 'ec'
    ? new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' })
    : new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null });
}

export function issueCertificate(request: CertificateRequest): TestAuthority & { publicKey: KeyObject } {
  const country = request.country ?? 'VN';
  const algorithm = signatureAlgorithm(request.signingKey);
  const serial = randomBytes(8);
  // A DER INTEGER is positive and minimal (X.690 §8.3.2): first byte 0x40–0x7F, never a leading
  // zero byte (which OpenSSL rejects, about one certificate in 500 before this).
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serial.buffer.slice(serial.byteOffset, serial.byteOffset + 8) as ArrayBuffer,
    signature: algorithm,
    issuer: request.issuer
      ? AsnConvert.parse(request.issuer.der, Certificate).tbsCertificate.subject
      : name(request.commonName, country),
    validity: new Validity({ notBefore: request.notBefore, notAfter: request.notAfter }),
    subject: name(request.commonName, country),
    subjectPublicKeyInfo: AsnConvert.parse(
      request.publicKey.export({ format: 'der', type: 'spki' }),
      SubjectPublicKeyInfo,
    ),
    extensions: new Extensions([
      new Extension({
        extnID: id_ce_basicConstraints,
        critical: true,
        extnValue: new OctetString(AsnConvert.serialize(new BasicConstraints({ cA: request.ca }))),
      }),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign(
    request.signingKey.asymmetricKeyType === 'ec' ? 'sha256' : 'sha256',
    tbsDer,
    request.signingKey,
  );
  const certificate = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: signature.buffer.slice(
      signature.byteOffset,
      signature.byteOffset + signature.length,
    ) as ArrayBuffer,
  });
  const der = Buffer.from(AsnConvert.serialize(certificate));
  return {
    privateKey: request.signingKey,
    certificate: new X509Certificate(der),
    der,
    publicKey: request.publicKey,
  };
}

export interface TestPki {
  csca: TestAuthority;
  documentSigner: TestAuthority;
  /** the CSCA as a PEM bundle, as operations would configure it */
  trustListPem: string;
}

const DAY = 86_400_000;

/** A CSCA (10 years) and a document signer (validity given, 1 year around now by default). */
export function createTestPki(
  options: { now?: Date; signerNotBefore?: Date; signerNotAfter?: Date; keyType?: 'ec' | 'rsa' } = {},
): TestPki {
  const now = options.now ?? new Date();
  const keys = () =>
    options.keyType === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cscaKeys = keys();
  const csca = issueCertificate({
    commonName: 'Test CSCA (not a real authority)',
    publicKey: cscaKeys.publicKey,
    signingKey: cscaKeys.privateKey,
    notBefore: new Date(now.getTime() - 365 * DAY),
    notAfter: new Date(now.getTime() + 10 * 365 * DAY),
    ca: true,
  });
  const dsKeys = keys();
  const ds = issueCertificate({
    commonName: 'Test Document Signer',
    publicKey: dsKeys.publicKey,
    signingKey: cscaKeys.privateKey,
    issuer: csca,
    notBefore: options.signerNotBefore ?? new Date(now.getTime() - 30 * DAY),
    notAfter: options.signerNotAfter ?? new Date(now.getTime() + 365 * DAY),
    ca: false,
  });
  return {
    csca: { privateKey: cscaKeys.privateKey, certificate: csca.certificate, der: csca.der },
    documentSigner: { privateKey: dsKeys.privateKey, certificate: ds.certificate, der: ds.der },
    trustListPem: csca.certificate.toString(),
  };
}

export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

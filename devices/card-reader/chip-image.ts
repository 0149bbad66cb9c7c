import { type KeyObject, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { EF_CARD_ACCESS } from '../../src/card/access.js';
import { type BacKey } from '../../src/card/bac.js';
import { encodeEcPublicKey } from '../../src/card/ca.js';
import { type EcDomain, EC_DOMAINS, randomScalar } from '../../src/card/curves.js';
import { LDS_FILES } from '../../src/card/files.js';
import { encodeDg1, encodeDg13, encodeDg15, encodeDg2, encodeEfCom, encodeOid } from '../../src/card/lds.js';
import { PROTOCOLS, type SecurityInfoSpec, encodeSecurityInfos } from '../../src/card/security-infos.js';
import { encodeTlv } from '../../src/card/tlv.js';
import { type HashName, buildSod } from '../../src/card/sod.js';
import { bacKeyFromMrz, cccdMrzFromRecord, parseCccdMrz } from '../../src/cccd/mrz.js';
import { type CitizenRecord, dg13FromRecord } from '../../src/cccd/record.js';

/**
 * Which access protocols the chip runs. The CCCD offers PACE in EF.CardAccess; apps report that
 * BAC also opens it (cccd-facts.md §4.1), hence the default.
 */
export type ChipAccessProtocols = 'bac-and-pace' | 'pace-only' | 'bac-only';

/** The chip's static Chip Authentication key (DG14), on `domain`. */
export interface ChipAuthenticationKeyPair {
  domain: EcDomain;
  secret: bigint;
  protocol: string;
  keyId?: number;
}

/** Everything a chip holds: its files by FID, its passwords and its private keys. */
export interface ChipImage {
  files: Map<number, Buffer>;
  bacKey: BacKey;
  mrzLines: string[];
  /** PACE password printed on the card: CCCD = last six digits of the ID number */
  can: string;
  access: ChipAccessProtocols;
  aaPrivateKey?: KeyObject;
  /** ECDSA AA hash, announced in DG14 */
  aaHash?: HashName;
  caKey?: ChipAuthenticationKeyPair;
}

/**
 * The document signer that signs a chip's EF.SOD. Any PKI will do (the demo's and the tests' is
 * src/demo/test-pki.ts, which devices/ may not import: it must not ship).
 */
export interface ChipSigningPki {
  documentSigner: { privateKey: KeyObject; der: Buffer };
}

export interface ChipImageOptions {
  record: CitizenRecord;
  pki: ChipSigningPki;
  /** face image bytes (a JPEG); a small synthetic one when absent */
  face?: Buffer;
  /** Active Authentication key type; false = no DG15 */
  activeAuthentication?: 'rsa' | 'ec' | false;
  hashAlgorithm?: HashName;
  /** ECDSA AA hash written to DG14 (EC keys only; SHA-256 by default) */
  aaHash?: HashName;
  /** default 'bac-and-pace' (EF.CardAccess as on the CCCD) */
  access?: ChipAccessProtocols;
  /** PACE domain parameters in EF.CardAccess: 13 brainpoolP256r1 (CCCD), 12 NIST P-256 */
  paceParameterId?: 12 | 13;
  /** PACE mapping offered: Generic Mapping (CCCD) or Chip Authentication Mapping */
  paceMapping?: 'gm' | 'cam';
  /** Chip Authentication key in DG14 (default true, brainpoolP256r1) */
  chipAuthentication?: boolean;
  /** test fault: leave DG14 out of the SOD's hashes (a CA key no PA binds) */
  dg14Unhashed?: boolean;
}

/** EF.CardAccess as the CCCD ships it (cccd-facts.md §4.1): TA v1, CA-ECDH-AES-128 v1, PACE-ECDH-GM-AES-128 v2. */
export function cccdCardAccess(parameterId: 12 | 13 = 13, mapping: 'gm' | 'cam' = 'gm'): Buffer {
  const protocol = mapping === 'cam' ? PROTOCOLS.PACE_ECDH_CAM_AES_128 : PROTOCOLS.PACE_ECDH_GM_AES_128;
  return encodeSecurityInfos([
    { kind: 'ta', version: 1 },
    { kind: 'ca', protocol: PROTOCOLS.CA_ECDH_AES_128, version: 1 },
    { kind: 'pace', protocol, version: 2, parameterId },
  ]);
}

/** ActiveAuthenticationInfo (part 11 §6.1): 2.23.136.1.1.5, version 1, ecdsa-plain-SHA-xxx. */
const ECDSA_PLAIN_OID: Readonly<Record<HashName, string>> = {
  sha1: '0.4.0.127.0.7.1.1.4.1.1',
  sha224: '0.4.0.127.0.7.1.1.4.1.2',
  sha256: '0.4.0.127.0.7.1.1.4.1.3',
  sha384: '0.4.0.127.0.7.1.1.4.1.4',
  sha512: '0.4.0.127.0.7.1.1.4.1.5',
};
function activeAuthenticationInfo(hash: HashName): SecurityInfoSpec {
  return {
    kind: 'raw',
    encoded: encodeTlv(
      0x30,
      encodeTlv(0x06, encodeOid('2.23.136.1.1.5')),
      encodeTlv(0x02, Buffer.from([1])),
      encodeTlv(0x06, encodeOid(ECDSA_PLAIN_OID[hash])),
    ),
  };
}

/** A fresh brainpoolP256r1 CA key, as the CCCD's DG14 announces (CA-ECDH-AES-CBC-CMAC-128). */
export function newChipAuthenticationKey(): ChipAuthenticationKeyPair {
  const domain = EC_DOMAINS.brainpoolP256r1;
  return { domain, secret: randomScalar(domain, randomBytes), protocol: PROTOCOLS.CA_ECDH_AES_128 };
}

/** DG14: CA info + CA public key, and ActiveAuthenticationInfo for ECDSA AA. */
export function encodeChipDg14(
  caKey: ChipAuthenticationKeyPair | undefined,
  aaHash: HashName | undefined,
): Buffer {
  const infos: SecurityInfoSpec[] = [];
  if (caKey) {
    infos.push({ kind: 'ca', protocol: caKey.protocol, version: 1 });
    infos.push({
      kind: 'ca-public-key',
      protocol: PROTOCOLS.PK_ECDH,
      subjectPublicKeyInfo: encodeEcPublicKey(caKey.domain, caKey.domain.Point.BASE.multiply(caKey.secret)),
    });
  }
  if (aaHash) infos.push(activeAuthenticationInfo(aaHash));
  return encodeTlv(0x6e, encodeSecurityInfos(infos));
}

/**
 * What a cloner can make: the genuine files and SOD, but chip keys of its own (it cannot extract
 * the genuine private keys), so DG14 and DG15 carry its new public keys and no longer match the SOD.
 */
export function cloneWithOwnKeys(genuine: ChipImage): ChipImage {
  const caKey = genuine.caKey ? newChipAuthenticationKey() : undefined;
  const aaPrivateKey = genuine.aaPrivateKey
    ? genuine.aaPrivateKey.asymmetricKeyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      : generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
    : undefined;
  const files = new Map(genuine.files);
  if (files.has(LDS_FILES.DG14)) files.set(LDS_FILES.DG14, encodeChipDg14(caKey, genuine.aaHash));
  if (aaPrivateKey) files.set(LDS_FILES.DG15, encodeDg15(createPublicKey(aaPrivateKey)));
  return {
    ...genuine,
    files,
    ...(caKey ? { caKey } : {}),
    ...(aaPrivateKey ? { aaPrivateKey } : {}),
  };
}

/** A JPEG-shaped placeholder of `size` bytes (SOI, APP0 JFIF, filler, EOI): not a viewable image. */
export function syntheticJpeg(size: number): Buffer {
  const head = Buffer.from('FFD8FFE000104A46494600010100000100010000', 'hex');
  const body = randomBytes(Math.max(0, size - head.length - 2));
  return Buffer.concat([head, body, Buffer.from('FFD9', 'hex')]);
}

/** Builds a CCCD chip's LDS from a citizen record, signed by the test PKI's document signer. */
export function buildChipImage(options: ChipImageOptions): ChipImage {
  const mrzLines = cccdMrzFromRecord(options.record);
  const aa = options.activeAuthentication ?? 'rsa';
  const aaPrivateKey =
    aa === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
      : aa === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
        : undefined;
  const dataGroups = new Map<number, Buffer>([
    [1, encodeDg1(mrzLines)],
    [2, encodeDg2({ image: options.face ?? syntheticJpeg(2048), width: 480, height: 640, format: 'jpeg' })],
    [13, encodeDg13(dg13FromRecord(options.record))],
  ]);
  if (aaPrivateKey) dataGroups.set(15, encodeDg15(createPublicKey(aaPrivateKey)));
  const aaHash = aa === 'ec' ? (options.aaHash ?? 'sha256') : undefined;
  const caKey = options.chipAuthentication === false ? undefined : newChipAuthenticationKey();
  if (aaHash || caKey) dataGroups.set(14, encodeChipDg14(caKey, aaHash));
  const hashed = new Map(dataGroups);
  if (options.dg14Unhashed) hashed.delete(14);
  const sod = buildSod({
    dataGroups: hashed,
    hashAlgorithm: options.hashAlgorithm ?? 'sha256',
    signerKey: options.pki.documentSigner.privateKey,
    signerCertificate: options.pki.documentSigner.der,
  });
  const fid: Record<number, number> = {
    1: LDS_FILES.DG1,
    2: LDS_FILES.DG2,
    13: LDS_FILES.DG13,
    14: LDS_FILES.DG14,
    15: LDS_FILES.DG15,
  };
  const files = new Map<number, Buffer>([
    [LDS_FILES.COM, encodeEfCom([...dataGroups.keys()].sort((a, b) => a - b))],
    [LDS_FILES.SOD, sod],
  ]);
  for (const [dg, bytes] of dataGroups) files.set(fid[dg]!, bytes);
  const access = options.access ?? 'bac-and-pace';
  if (access !== 'bac-only')
    files.set(EF_CARD_ACCESS, cccdCardAccess(options.paceParameterId ?? 13, options.paceMapping ?? 'gm'));
  return {
    files,
    bacKey: bacKeyFromMrz(parseCccdMrz(mrzLines).mrz),
    mrzLines,
    can: options.record.idNumber.slice(-6),
    access,
    ...(caKey ? { caKey } : {}),
    ...(aaPrivateKey ? { aaPrivateKey } : {}),
    ...(aaHash ? { aaHash } : {}),
  };
}

import { type KeyObject, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { type BacKey } from '../../src/card/bac.js';
import { LDS_FILES } from '../../src/card/files.js';
import { encodeDg1, encodeDg13, encodeDg14, encodeDg15, encodeDg2, encodeEfCom } from '../../src/card/lds.js';
import { type HashName, buildSod } from '../../src/card/sod.js';
import { bacKeyFromMrz, cccdMrzFromRecord, parseCccdMrz } from '../../src/cccd/mrz.js';
import { type CitizenRecord, dg13FromRecord } from '../../src/cccd/record.js';

/** Everything a chip holds: its files by FID, its BAC key and its Active Authentication key. */
export interface ChipImage {
  files: Map<number, Buffer>;
  bacKey: BacKey;
  mrzLines: string[];
  aaPrivateKey?: KeyObject;
  /** ECDSA AA hash, announced in DG14 */
  aaHash?: HashName;
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
  if (aaHash) dataGroups.set(14, encodeDg14(aaHash));
  const sod = buildSod({
    dataGroups,
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
    [LDS_FILES.COM, encodeEfCom([...dataGroups.keys()])],
    [LDS_FILES.SOD, sod],
  ]);
  for (const [dg, bytes] of dataGroups) files.set(fid[dg]!, bytes);
  return {
    files,
    bacKey: bacKeyFromMrz(parseCccdMrz(mrzLines).mrz),
    mrzLines,
    ...(aaPrivateKey ? { aaPrivateKey } : {}),
    ...(aaHash ? { aaHash } : {}),
  };
}

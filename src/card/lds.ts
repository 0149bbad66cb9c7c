import { type KeyObject, createPublicKey } from 'node:crypto';
import { LdsError } from './errors.js';
import { type Mrz, parseMrz } from './mrz.js';
import { type HashName } from './sod.js';
import { type Tlv, decodeTlv, decodeTlvList, encodeTlv, requireChild } from './tlv.js';

/** Tags of LDS1 files (ICAO 9303 part 10 §4.6.2, EF.COM tag list). */
export const DG_TAGS: Readonly<Record<number, number>> = {
  0x61: 1,
  0x75: 2,
  0x63: 3,
  0x76: 4,
  0x65: 5,
  0x66: 6,
  0x67: 7,
  0x68: 8,
  0x69: 9,
  0x6a: 10,
  0x6b: 11,
  0x6c: 12,
  0x6d: 13,
  0x6e: 14,
  0x6f: 15,
  0x70: 16,
};
export function dgTag(dataGroup: number): number {
  const entry = Object.entries(DG_TAGS).find(([, n]) => n === dataGroup);
  if (!entry) throw new LdsError(`DG${dataGroup}`, 'no such data group');
  return Number(entry[0]);
}

function outer(bytes: Uint8Array, tag: number, file: string): Tlv {
  const tlv = decodeTlv(bytes, 0, file);
  if (tlv.tag !== tag)
    throw new LdsError(file, `starts with tag ${tlv.tag.toString(16)}, expected ${tag.toString(16)}`);
  return tlv;
}

// ---- EF.COM (part 10 §4.6.1) ----------------------------------------------------------------
export interface EfCom {
  ldsVersion: string;
  unicodeVersion: string;
  dataGroups: number[];
}

export function parseEfCom(bytes: Uint8Array): EfCom {
  const value = outer(bytes, 0x60, 'EF.COM').value;
  const list = decodeTlvList(value, 'EF.COM');
  const get = (tag: number) => list.find((t) => t.tag === tag)?.value;
  const tags = get(0x5c);
  if (!tags) throw new LdsError('EF.COM', 'tag list 5C missing');
  return {
    ldsVersion: get(0x5f01)?.toString('latin1') ?? '',
    unicodeVersion: get(0x5f36)?.toString('latin1') ?? '',
    dataGroups: [...tags].map((t) => DG_TAGS[t]).filter((n): n is number => n !== undefined),
  };
}

export function encodeEfCom(dataGroups: number[]): Buffer {
  return encodeTlv(
    0x60,
    encodeTlv(0x5f01, Buffer.from('0107', 'latin1')),
    encodeTlv(0x5f36, Buffer.from('040000', 'latin1')),
    encodeTlv(0x5c, Buffer.from(dataGroups.map(dgTag))),
  );
}

// ---- DG1 (part 10 §4.7.1) ---------------------------------------------------------------------
export function parseDg1(bytes: Uint8Array): { text: string; mrz: Mrz } {
  const mrzBytes = requireChild(outer(bytes, 0x61, 'DG1').value, 0x5f1f, 'DG1');
  const text = mrzBytes.toString('latin1');
  const lines =
    text.length === 90
      ? [text.slice(0, 30), text.slice(30, 60), text.slice(60)]
      : text.length === 88
        ? [text.slice(0, 44), text.slice(44)]
        : null;
  if (!lines) throw new LdsError('DG1', `MRZ of ${text.length} characters`);
  return { text, mrz: parseMrz(lines) };
}

export function encodeDg1(lines: string[]): Buffer {
  return encodeTlv(0x61, encodeTlv(0x5f1f, Buffer.from(lines.join(''), 'latin1')));
}

// ---- DG2 (part 10 §4.7.2; ISO/IEC 19794-5:2005 facial record inside the CBEFF template) ---------
export type FaceImageFormat = 'jpeg' | 'jpeg2000' | 'unknown';
export interface FaceImage {
  format: FaceImageFormat;
  width: number;
  height: number;
  image: Buffer;
}

const FACE_HEADER = 14; // 'FAC\0' '010\0' record length(4) number of faces(2)
const FACE_INFO = 20; // block length(4) feature points(2) gender eye hair(3) mask(3) expression(2) pose(6)
const IMAGE_INFO = 12;

function sniffFormat(image: Buffer, declared: number): FaceImageFormat {
  if (image[0] === 0xff && image[1] === 0xd8) return 'jpeg';
  if (
    image.subarray(0, 4).equals(Buffer.from('0000000c', 'hex')) ||
    image.subarray(0, 4).equals(Buffer.from('ff4fff51', 'hex'))
  )
    return 'jpeg2000';
  return declared === 0 ? 'jpeg' : declared === 1 ? 'jpeg2000' : 'unknown';
}

export function parseDg2(bytes: Uint8Array): FaceImage {
  const group = requireChild(outer(bytes, 0x75, 'DG2').value, 0x7f61, 'DG2');
  const template = requireChild(group, 0x7f60, 'DG2');
  const children = decodeTlvList(template, 'DG2');
  const block = children.find((t) => t.tag === 0x5f2e || t.tag === 0x7f2e)?.value;
  if (!block) throw new LdsError('DG2', 'biometric data block 5F2E/7F2E missing');
  if (block.length < FACE_HEADER + FACE_INFO + IMAGE_INFO || block.toString('latin1', 0, 3) !== 'FAC')
    throw new LdsError('DG2', 'not an ISO 19794-5 facial record');
  const featurePoints = block.readUInt16BE(FACE_HEADER + 4);
  const infoAt = FACE_HEADER + FACE_INFO + featurePoints * 8;
  if (block.length < infoAt + IMAGE_INFO) throw new LdsError('DG2', 'facial record truncated');
  const declared = block[infoAt + 1]!;
  const image = block.subarray(infoAt + IMAGE_INFO);
  return {
    format: sniffFormat(image, declared),
    width: block.readUInt16BE(infoAt + 2),
    height: block.readUInt16BE(infoAt + 4),
    image,
  };
}

export function encodeDg2(face: {
  image: Uint8Array;
  width: number;
  height: number;
  format: 'jpeg' | 'jpeg2000';
}): Buffer {
  const recordLength = FACE_HEADER + FACE_INFO + IMAGE_INFO + face.image.length;
  const header = Buffer.alloc(FACE_HEADER);
  header.write('FAC\x00010\x00', 0, 'latin1');
  header.writeUInt32BE(recordLength, 8);
  header.writeUInt16BE(1, 12);
  const info = Buffer.alloc(FACE_INFO);
  info.writeUInt32BE(FACE_INFO + IMAGE_INFO + face.image.length, 0);
  const imageInfo = Buffer.alloc(IMAGE_INFO);
  imageInfo[0] = 1; // full frontal
  imageInfo[1] = face.format === 'jpeg' ? 0 : 1;
  imageInfo.writeUInt16BE(face.width, 2);
  imageInfo.writeUInt16BE(face.height, 4);
  const block = Buffer.concat([header, info, imageInfo, face.image]);
  const biometricHeader = encodeTlv(
    0xa1,
    encodeTlv(0x80, Buffer.from([1, 1])),
    encodeTlv(0x81, Buffer.from([2])),
  );
  return encodeTlv(
    0x75,
    encodeTlv(
      0x7f61,
      encodeTlv(0x02, Buffer.from([1])),
      encodeTlv(0x7f60, biometricHeader, encodeTlv(0x5f2e, block)),
    ),
  );
}

// ---- DG13, Vietnamese additional data (cccd-facts.md §4.3) --------------------------------------
/** Field numbers of the CCCD's DG13 SET, as documented by public parsers (cccd-facts.md §4.3). */
export const DG13_FIELDS = {
  idNumber: 1,
  fullName: 2,
  dateOfBirth: 3,
  sex: 4,
  nationality: 5,
  ethnicity: 6,
  religion: 7,
  placeOfOrigin: 8,
  placeOfResidence: 9,
  identifyingMarks: 10,
  dateOfIssue: 11,
  dateOfExpiry: 12,
  parents: 13,
  spouse: 14,
  oldIdNumber: 15,
  cardSerial: 16,
} as const;

export interface Dg13 {
  idNumber?: string;
  fullName?: string;
  dateOfBirth?: string;
  sex?: string;
  nationality?: string;
  ethnicity?: string;
  religion?: string;
  placeOfOrigin?: string;
  placeOfResidence?: string;
  identifyingMarks?: string;
  dateOfIssue?: string;
  dateOfExpiry?: string;
  /** field 13: father then mother, in order, whichever nesting the card uses */
  parents: string[];
  spouse?: string;
  oldIdNumber?: string;
  cardSerial?: string;
}

const STRING_TAGS = new Set([0x0c, 0x13, 0x16, 0x1a, 0x1e]);
const OID_UTF8_MARKER = Buffer.from('28D316010008', 'hex'); // 1.0.10646.1.0.8

function decodeString(tlv: Tlv): string {
  if (tlv.tag === 0x0c) return tlv.value.toString('utf8');
  if (tlv.tag !== 0x1e) return tlv.value.toString('latin1');
  // BMPString is UTF-16 big-endian.
  if (tlv.value.length % 2 !== 0) throw new LdsError('DG13', 'BMPString of odd length');
  return Buffer.from(tlv.value).swap16().toString('utf16le');
}

function collectStrings(bytes: Uint8Array, file: string, depth = 0): string[] {
  if (depth > 8) throw new LdsError(file, 'nesting too deep');
  const out: string[] = [];
  for (const tlv of decodeTlvList(bytes, file)) {
    if (STRING_TAGS.has(tlv.tag)) out.push(decodeString(tlv));
    else if (tlv.tag === 0x30 || tlv.tag === 0x31) out.push(...collectStrings(tlv.value, file, depth + 1));
  }
  return out;
}

/** Walks DG13 as DER, keyed by each entry's INTEGER field number — never by byte offsets. */
export function parseDg13(bytes: Uint8Array): Dg13 {
  const file = 'DG13';
  const top = requireChild(outer(bytes, 0x6d, file).value, 0x30, file);
  const set = decodeTlvList(top, file).find((t) => t.tag === 0x31);
  if (!set) throw new LdsError(file, 'field SET 31 missing');
  const result: Dg13 = { parents: [] };
  const names = Object.entries(DG13_FIELDS);
  for (const entry of decodeTlvList(set.value, file)) {
    if (entry.tag !== 0x30) throw new LdsError(file, `entry with tag ${entry.tag.toString(16)}`);
    const [numberTlv, ...rest] = decodeTlvList(entry.value, file);
    if (!numberTlv || numberTlv.tag !== 0x02 || numberTlv.value.length !== 1)
      throw new LdsError(file, 'entry without field number');
    const fieldNumber = numberTlv.value[0]!;
    const strings = rest.flatMap((t) =>
      STRING_TAGS.has(t.tag)
        ? [decodeString(t)]
        : t.tag === 0x30 || t.tag === 0x31
          ? collectStrings(t.value, file)
          : [],
    );
    const name = names.find(([, n]) => n === fieldNumber)?.[0] as keyof typeof DG13_FIELDS | undefined;
    if (!name) continue; // fields unknown to us are kept out, not an error
    if (name === 'parents') result.parents.push(...strings);
    else if (strings[0] !== undefined) result[name] = strings[0];
  }
  return result;
}

/** Builds a DG13 the way the cards do: UTF8String for text, PrintableString for digits and dates. */
export function encodeDg13(fields: Dg13): Buffer {
  const printable = new Set<keyof Dg13>([
    'idNumber',
    'dateOfBirth',
    'dateOfIssue',
    'oldIdNumber',
    'cardSerial',
  ]);
  const entries: Buffer[] = [];
  for (const [name, number] of Object.entries(DG13_FIELDS) as [keyof typeof DG13_FIELDS, number][]) {
    const num = encodeTlv(0x02, Buffer.from([number]));
    if (name === 'parents') {
      if (fields.parents.length > 0)
        entries.push(
          encodeTlv(
            0x30,
            num,
            ...fields.parents.map((p) => encodeTlv(0x30, encodeTlv(0x0c, Buffer.from(p, 'utf8')))),
          ),
        );
      continue;
    }
    const value = fields[name];
    if (name === 'spouse') {
      entries.push(
        value === undefined
          ? encodeTlv(0x30, num)
          : encodeTlv(0x30, num, encodeTlv(0x30, encodeTlv(0x0c, Buffer.from(value, 'utf8')))),
      );
      continue;
    }
    if (value === undefined) continue;
    const tag = printable.has(name) ? 0x13 : 0x0c;
    entries.push(encodeTlv(0x30, num, encodeTlv(tag, Buffer.from(value, tag === 0x0c ? 'utf8' : 'latin1'))));
  }
  return encodeTlv(
    0x6d,
    encodeTlv(
      0x30,
      encodeTlv(0x02, Buffer.from([1])),
      encodeTlv(0x06, OID_UTF8_MARKER),
      encodeTlv(0x31, ...entries),
    ),
  );
}

// ---- DG15, Active Authentication public key (part 11 §6.1, part 10 §4.7.15) ------------------------
export function parseDg15(bytes: Uint8Array): KeyObject {
  const spki = outer(bytes, 0x6f, 'DG15').value;
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new LdsError('DG15', 'SubjectPublicKeyInfo does not parse');
  }
}

export function encodeDg15(publicKey: KeyObject): Buffer {
  return encodeTlv(0x6f, publicKey.export({ format: 'der', type: 'spki' }));
}

// ---- DG14, security infos (part 10 §4.7.14; part 11 §6.1 ActiveAuthenticationInfo) -----------------
const OID_ACTIVE_AUTHENTICATION = '2.23.136.1.1.5';
/** ecdsa-plain-SHAxxx (BSI TR-03111 §5.2.1, 0.4.0.127.0.7.1.1.4.1.x) */
const ECDSA_PLAIN: Readonly<Record<string, HashName>> = {
  '0.4.0.127.0.7.1.1.4.1.1': 'sha1',
  '0.4.0.127.0.7.1.1.4.1.2': 'sha224',
  '0.4.0.127.0.7.1.1.4.1.3': 'sha256',
  '0.4.0.127.0.7.1.1.4.1.4': 'sha384',
  '0.4.0.127.0.7.1.1.4.1.5': 'sha512',
};

export function decodeOid(bytes: Uint8Array, file = 'OID'): string {
  if (bytes.length === 0) throw new LdsError(file, 'empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (value > 2 ** 45) throw new LdsError(file, 'OBJECT IDENTIFIER arc too large');
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    } else if (i === bytes.length - 1) throw new LdsError(file, 'truncated OBJECT IDENTIFIER');
  }
  const first = arcs.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

export function encodeOid(oid: string): Buffer {
  const [a, b, ...rest] = oid.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [a! * 40 + b!, ...rest]) {
    const septets = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) septets.unshift((v & 0x7f) | 0x80);
    out.push(...septets);
  }
  return Buffer.from(out);
}

export interface Dg14 {
  /** protocol OIDs of every SecurityInfo, for the record (Chip Authentication, PACE, …) */
  protocols: string[];
  /** hash of ECDSA Active Authentication, when DG14 carries an ActiveAuthenticationInfo */
  activeAuthenticationHash?: HashName;
}

export function parseDg14(bytes: Uint8Array): Dg14 {
  const set = requireChild(outer(bytes, 0x6e, 'DG14').value, 0x31, 'DG14');
  const result: Dg14 = { protocols: [] };
  for (const info of decodeTlvList(set, 'DG14')) {
    if (info.tag !== 0x30) throw new LdsError('DG14', 'SecurityInfo is not a SEQUENCE');
    const [protocol, , optional] = decodeTlvList(info.value, 'DG14');
    if (!protocol || protocol.tag !== 0x06) throw new LdsError('DG14', 'SecurityInfo without protocol OID');
    const oid = decodeOid(protocol.value, 'DG14');
    result.protocols.push(oid);
    if (oid === OID_ACTIVE_AUTHENTICATION && optional?.tag === 0x06) {
      const hash = ECDSA_PLAIN[decodeOid(optional.value, 'DG14')];
      if (hash) result.activeAuthenticationHash = hash;
    }
  }
  return result;
}

/** DG14 with one ActiveAuthenticationInfo (version 1, ecdsa-plain-`hash`). */
export function encodeDg14(activeAuthenticationHash: HashName): Buffer {
  const algorithm = Object.entries(ECDSA_PLAIN).find(([, h]) => h === activeAuthenticationHash)![0];
  return encodeTlv(
    0x6e,
    encodeTlv(
      0x31,
      encodeTlv(
        0x30,
        encodeTlv(0x06, encodeOid(OID_ACTIVE_AUTHENTICATION)),
        encodeTlv(0x02, Buffer.from([1])),
        encodeTlv(0x06, encodeOid(algorithm)),
      ),
    ),
  );
}

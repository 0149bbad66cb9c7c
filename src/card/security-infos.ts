import { LdsError } from './errors.js';
import { decodeOid, encodeOid } from './lds.js';
import { type SmCipherName } from './sm.js';
import { decodeTlv, decodeTlvList, encodeTlv } from './tlv.js';

/**
 * SecurityInfos (ICAO 9303 part 11 §9.2; BSI TR-03110 part 3 §A.1): the SET OF SecurityInfo in
 * EF.CardAccess (PACE, and on CCCD also CA and TA) and in DG14 (Chip Authentication keys, AA).
 * SecurityInfo ::= SEQUENCE { protocol OID, requiredData ANY, optionalData ANY OPTIONAL }.
 * Unknown protocols are kept by OID and otherwise ignored, as the spec requires.
 */
const ID_PACE = '0.4.0.127.0.7.2.2.4';
const ID_CA = '0.4.0.127.0.7.2.2.3';
const ID_PK = '0.4.0.127.0.7.2.2.1';
export const OID_TA = '0.4.0.127.0.7.2.2.2';

export type PaceMapping = 'gm' | 'im' | 'cam';
export type KeyAgreement = 'dh' | 'ecdh';

/** The cipher suite an OID's last arc names: 1 = 3DES, 2/3/4 = AES-128/192/256. */
export interface CipherSuite {
  cipher: SmCipherName;
  keyLength: 16 | 24 | 32;
}
const SUITES: Readonly<Record<number, CipherSuite>> = {
  1: { cipher: '3des', keyLength: 16 },
  2: { cipher: 'aes', keyLength: 16 },
  3: { cipher: 'aes', keyLength: 24 },
  4: { cipher: 'aes', keyLength: 32 },
};
const PACE_MAPPINGS: Readonly<Record<number, { agreement: KeyAgreement; mapping: PaceMapping }>> = {
  1: { agreement: 'dh', mapping: 'gm' },
  2: { agreement: 'ecdh', mapping: 'gm' },
  3: { agreement: 'dh', mapping: 'im' },
  4: { agreement: 'ecdh', mapping: 'im' },
  6: { agreement: 'ecdh', mapping: 'cam' },
};

export interface PaceInfo extends CipherSuite {
  protocol: string;
  version: number;
  agreement: KeyAgreement;
  mapping: PaceMapping;
  /** standardized domain parameters (part 11 §9.5.1); absent = proprietary (PACEDomainParameterInfo) */
  parameterId?: number;
}

export interface ChipAuthenticationInfo extends CipherSuite {
  protocol: string;
  version: number;
  agreement: KeyAgreement;
  keyId?: number;
}

export interface ChipAuthenticationPublicKeyInfo {
  protocol: string;
  agreement: KeyAgreement;
  /** DER SubjectPublicKeyInfo of the chip's static key */
  subjectPublicKeyInfo: Buffer;
  keyId?: number;
}

export interface SecurityInfos {
  /** every protocol OID, in order (unknown ones included) */
  protocols: string[];
  pace: PaceInfo[];
  chipAuthentication: ChipAuthenticationInfo[];
  chipAuthenticationPublicKeys: ChipAuthenticationPublicKeyInfo[];
  terminalAuthentication: boolean;
}

function smallInteger(value: Buffer, file: string, what: string): number {
  if (value.length < 1 || value.length > 4 || value[0]! & 0x80)
    throw new LdsError(file, `${what} is not a small non-negative INTEGER`);
  return value.readUIntBE(0, value.length);
}

function childOid(oid: string, parent: string): number[] | undefined {
  if (!oid.startsWith(`${parent}.`)) return undefined;
  return oid
    .slice(parent.length + 1)
    .split('.')
    .map(Number);
}

interface RawInfo {
  oid: string;
  required?: { tag: number; value: Buffer };
  optional?: { tag: number; value: Buffer };
}

function interpret(info: RawInfo, file: string, out: SecurityInfos): void {
  const { oid, required, optional } = info;
  const integer = (field: RawInfo['required'], what: string) => {
    if (!field || field.tag !== 0x02) throw new LdsError(file, `${what} of ${oid} is not an INTEGER`);
    return smallInteger(field.value, file, what);
  };
  const pace = childOid(oid, ID_PACE);
  if (pace?.length === 2 && PACE_MAPPINGS[pace[0]!] && SUITES[pace[1]!]) {
    out.pace.push({
      protocol: oid,
      version: integer(required, 'version'),
      ...PACE_MAPPINGS[pace[0]!]!,
      ...SUITES[pace[1]!]!,
      ...(optional ? { parameterId: integer(optional, 'parameterId') } : {}),
    });
    return;
  }
  const ca = childOid(oid, ID_CA);
  if (ca?.length === 2 && (ca[0] === 1 || ca[0] === 2) && SUITES[ca[1]!]) {
    out.chipAuthentication.push({
      protocol: oid,
      version: integer(required, 'version'),
      agreement: ca[0] === 1 ? 'dh' : 'ecdh',
      ...SUITES[ca[1]!]!,
      ...(optional ? { keyId: integer(optional, 'keyId') } : {}),
    });
    return;
  }
  const pk = childOid(oid, ID_PK);
  if (pk?.length === 1 && (pk[0] === 1 || pk[0] === 2)) {
    if (!required || required.tag !== 0x30)
      throw new LdsError(file, 'ChipAuthenticationPublicKeyInfo without a SubjectPublicKeyInfo');
    out.chipAuthenticationPublicKeys.push({
      protocol: oid,
      agreement: pk[0] === 1 ? 'dh' : 'ecdh',
      subjectPublicKeyInfo: encodeTlv(0x30, required.value),
      ...(optional ? { keyId: integer(optional, 'keyId') } : {}),
    });
    return;
  }
  if (oid === OID_TA) out.terminalAuthentication = true;
}

/** Parses a DER SET OF SecurityInfo. Throws `LdsError` (and only that) on malformed input. */
export function parseSecurityInfos(bytes: Uint8Array, file: string): SecurityInfos {
  const set = decodeTlv(bytes, 0, file);
  if (set.tag !== 0x31) throw new LdsError(file, 'SecurityInfos is not a SET');
  const out: SecurityInfos = {
    protocols: [],
    pace: [],
    chipAuthentication: [],
    chipAuthenticationPublicKeys: [],
    terminalAuthentication: false,
  };
  for (const item of decodeTlvList(set.value, file)) {
    if (item.tag !== 0x30) throw new LdsError(file, 'SecurityInfo is not a SEQUENCE');
    const [protocol, required, optional, extra] = decodeTlvList(item.value, file);
    if (!protocol || protocol.tag !== 0x06) throw new LdsError(file, 'SecurityInfo without protocol OID');
    if (extra) throw new LdsError(file, 'SecurityInfo with more than three fields');
    const oid = decodeOid(protocol.value, file);
    out.protocols.push(oid);
    interpret({ oid, ...(required ? { required } : {}), ...(optional ? { optional } : {}) }, file, out);
  }
  return out;
}

/** EF.CardAccess is a bare SecurityInfos (part 10 §3.11.3). */
export function parseCardAccess(bytes: Uint8Array): SecurityInfos {
  return parseSecurityInfos(bytes, 'EF.CardAccess');
}

/** DG14 = [APPLICATION 14] SecurityInfos (part 10 §4.7.14). */
export function parseDg14SecurityInfos(bytes: Uint8Array): SecurityInfos {
  const outer = decodeTlv(bytes, 0, 'DG14');
  if (outer.tag !== 0x6e) throw new LdsError('DG14', 'does not start with tag 6E');
  return parseSecurityInfos(outer.value, 'DG14');
}

// ---- encoders (chip images; the inverse of the parsers above) ------------------------------------

function integerTlv(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; ; v = Math.floor(v / 256)) {
    bytes.unshift(v & 0xff);
    if (v < 256) break;
  }
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return encodeTlv(0x02, Buffer.from(bytes));
}

export type SecurityInfoSpec =
  | { kind: 'pace'; protocol: string; version?: number; parameterId?: number }
  | { kind: 'ca'; protocol: string; version?: number; keyId?: number }
  | { kind: 'ca-public-key'; protocol: string; subjectPublicKeyInfo: Buffer; keyId?: number }
  | { kind: 'ta'; version?: number }
  | { kind: 'raw'; encoded: Buffer };

export function encodeSecurityInfo(spec: SecurityInfoSpec): Buffer {
  const oid = (o: string) => encodeTlv(0x06, encodeOid(o));
  switch (spec.kind) {
    case 'pace':
      return encodeTlv(
        0x30,
        oid(spec.protocol),
        integerTlv(spec.version ?? 2),
        ...(spec.parameterId === undefined ? [] : [integerTlv(spec.parameterId)]),
      );
    case 'ca':
      return encodeTlv(
        0x30,
        oid(spec.protocol),
        integerTlv(spec.version ?? 1),
        ...(spec.keyId === undefined ? [] : [integerTlv(spec.keyId)]),
      );
    case 'ca-public-key':
      return encodeTlv(
        0x30,
        oid(spec.protocol),
        spec.subjectPublicKeyInfo,
        ...(spec.keyId === undefined ? [] : [integerTlv(spec.keyId)]),
      );
    case 'ta':
      return encodeTlv(0x30, oid(OID_TA), integerTlv(spec.version ?? 1));
    case 'raw':
      return spec.encoded;
  }
}

export function encodeSecurityInfos(specs: readonly SecurityInfoSpec[]): Buffer {
  // DER orders a SET OF by encoding; the parsers do not depend on it, chips usually do not either.
  const items = specs.map(encodeSecurityInfo).sort(Buffer.compare);
  return encodeTlv(0x31, ...items);
}

export const PROTOCOLS = {
  PACE_ECDH_GM_3DES: `${ID_PACE}.2.1`,
  PACE_ECDH_GM_AES_128: `${ID_PACE}.2.2`,
  PACE_ECDH_GM_AES_192: `${ID_PACE}.2.3`,
  PACE_ECDH_GM_AES_256: `${ID_PACE}.2.4`,
  PACE_ECDH_CAM_AES_128: `${ID_PACE}.6.2`,
  CA_ECDH_3DES: `${ID_CA}.2.1`,
  CA_ECDH_AES_128: `${ID_CA}.2.2`,
  PK_ECDH: `${ID_PK}.2`,
} as const;

import { createHash } from 'node:crypto';
import { aesCbcDecrypt, aesCbcEncrypt, aesCmac, aesEncryptBlock, padTo, unpadFrom } from './aes.js';
import { type ApduChannel, SW_SUCCESS } from './apdu.js';
import { type BacKey, type Rng, adjustParity, mrzInformation, secureRandom } from './bac.js';
import {
  type EcDomain,
  type Point,
  basePointPublicKey,
  decodePoint,
  domainForParameterId,
  encodePoint,
  multiplyPoint,
  randomScalar,
  scalarFromBytes,
  sharedSecretX,
} from './curves.js';
import { retailMac, tdesDecrypt, tdesEncrypt } from './des.js';
import { AccessControlError, type AccessStep, LdsError } from './errors.js';
import { encodeOid } from './lds.js';
import { type CipherSuite, type PaceInfo } from './security-infos.js';
import { type SessionKeys, macEquals } from './sm.js';
import { decodeTlv, decodeTlvList, encodeTlv } from './tlv.js';

/**
 * PACE v2 with ECDH Generic Mapping (ICAO 9303 part 11 §4.4; BSI TR-03110 part 2 §3.2, part 3
 * §A.3). Every cryptographic step is a pure exported function (the worked example of part 11
 * Appendix G.1 checks each); `performPace` strings them together over an APDU channel, and the
 * chip emulator uses the same functions from the other side.
 */

/** The shared password: the MRZ (key reference 1) or the CAN (2), part 11 §4.4.1 / §9.5.3. */
export type PacePassword = { kind: 'mrz'; key: BacKey } | { kind: 'can'; can: string };

export function passwordReference(password: PacePassword): 1 | 2 {
  return password.kind === 'mrz' ? 1 : 2;
}

/** K = f(π): SHA-1(MRZ_information) for the MRZ, the CAN's ISO 8859-1 bytes for the CAN (§9.7.3). */
export function paceSecret(password: PacePassword): Buffer {
  if (password.kind === 'mrz')
    return createHash('sha1').update(mrzInformation(password.key), 'ascii').digest();
  if (!/^\d{6}$/.test(password.can)) throw new AccessControlError('input', 'a CAN is six digits');
  return Buffer.from(password.can, 'latin1');
}

/**
 * KDF(K, c) of part 11 §9.7.1: SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256, truncated
 * to the key length; 3DES keys get DES parity. c = 1 → KSenc, 2 → KSmac, 3 → Kπ.
 */
export function kdf(secret: Uint8Array, counter: 1 | 2 | 3, suite: CipherSuite): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  const hash = suite.cipher === 'aes' && suite.keyLength > 16 ? 'sha256' : 'sha1';
  const digest = createHash(hash).update(secret).update(c).digest().subarray(0, suite.keyLength);
  return suite.cipher === '3des' ? adjustParity(digest) : Buffer.from(digest);
}

/** Kπ, the key that encrypts the nonce. */
export function paceKey(password: PacePassword, suite: CipherSuite): Buffer {
  return kdf(paceSecret(password), 3, suite);
}

/** s = D(Kπ, z): CBC with a zero IV over one block or more (part 11 §4.4.3.3 step 1). */
export function decryptNonce(kPi: Uint8Array, z: Uint8Array, suite: CipherSuite): Buffer {
  return suite.cipher === 'aes' ? aesCbcDecrypt(kPi, Buffer.alloc(16), z) : tdesDecrypt(kPi, z);
}

/** Chip side: z = E(Kπ, s). */
export function encryptNonce(kPi: Uint8Array, s: Uint8Array, suite: CipherSuite): Buffer {
  return suite.cipher === 'aes' ? aesCbcEncrypt(kPi, Buffer.alloc(16), s) : tdesEncrypt(kPi, s);
}

/** Generic Mapping for ECDH (part 11 §4.4.3.3.1): Ĝ = s·G + H, with H = SK_map · PK_map(other). */
export function mapGenerator(d: EcDomain, nonce: Uint8Array, h: Point): Point {
  const s = scalarFromBytes(nonce) % d.order;
  return d.Point.BASE.multiply(s).add(h);
}

/**
 * The terminal's ephemeral public key SK·Ĝ on the mapped generator Ĝ = s·G + SK_map·PK_map,IC
 * (part 11 §4.4.3.3.1, §4.4.3.4), computed as (SK·s)·G + (SK·SK_map)·PK_map,IC: the same point
 * (the worked example checks it byte for byte), with OpenSSL's ECDH doing both multiplications
 * instead of three JS ones. `mapGenerator` is the textbook form the chip side uses.
 */
export function mappedPublicKey(
  d: EcDomain,
  nonce: Uint8Array,
  mapKey: bigint,
  chipMapPublic: Point,
  ephemeralKey: bigint,
): Point {
  const { Fn } = d.Point;
  const s = scalarFromBytes(nonce) % d.order;
  const onBase = Fn.mul(ephemeralKey, s);
  const fromBase = onBase === 0n ? d.Point.ZERO : d.Point.fromBytes(basePointPublicKey(d, onBase));
  const mapped = fromBase.add(multiplyPoint(d, Fn.mul(ephemeralKey, mapKey), chipMapPublic));
  if (mapped.is0()) throw new AccessControlError('pace-map', 'the mapped generator is the identity');
  return mapped;
}

/** Session keys from the x coordinate of the shared point (part 11 §4.4.3.4, §9.7.1). */
export function paceSessionKeys(sharedX: Uint8Array, suite: CipherSuite): { ksEnc: Buffer; ksMac: Buffer } {
  return { ksEnc: kdf(sharedX, 1, suite), ksMac: kdf(sharedX, 2, suite) };
}

/** The public-key data object the tokens MAC: 7F49 { 06 OID, 86 point } (part 11 §4.4.3.5, §9.4.4). */
export function authenticationTokenInput(protocol: string, publicPoint: Uint8Array): Buffer {
  return encodeTlv(0x7f49, encodeTlv(0x06, encodeOid(protocol)), encodeTlv(0x86, publicPoint));
}

/** T = MAC(KSmac, 7F49…): CMAC truncated to 8 bytes (AES) or retail MAC (3DES). */
export function authenticationToken(
  ksMac: Uint8Array,
  suite: CipherSuite,
  protocol: string,
  publicPoint: Uint8Array,
): Buffer {
  const input = authenticationTokenInput(protocol, publicPoint);
  return suite.cipher === 'aes' ? aesCmac(ksMac, input).subarray(0, 8) : retailMac(ksMac, input);
}

/** MSE:Set AT data: 80 OID, 83 password reference, 84 parameterId when the chip offers several. */
export function mseSetAtData(info: PaceInfo, password: PacePassword, withParameterId: boolean): Buffer {
  return Buffer.concat([
    encodeTlv(0x80, encodeOid(info.protocol)),
    encodeTlv(0x83, Buffer.from([passwordReference(password)])),
    ...(withParameterId && info.parameterId !== undefined
      ? [encodeTlv(0x84, Buffer.from([info.parameterId]))]
      : []),
  ]);
}

/** The curve a PACEInfo names; only ECDH on standardized parameters is supported. */
export function paceDomain(info: PaceInfo): EcDomain {
  const d = info.parameterId === undefined ? undefined : domainForParameterId(info.parameterId);
  if (info.agreement !== 'ecdh' || info.mapping === 'im' || !d)
    throw new AccessControlError(
      'pace-set-at',
      `unsupported PACE variant ${info.protocol} with parameterId ${info.parameterId ?? 'none'}`,
    );
  return d;
}

/** Dynamic Authentication Data (tag 7C) of GENERAL AUTHENTICATE, part 11 §4.4.4.2. */
export function encodeDynamicAuthentication(tag?: number, value?: Uint8Array): Buffer {
  return tag === undefined
    ? Buffer.from([0x7c, 0x00])
    : encodeTlv(0x7c, encodeTlv(tag, value ?? Buffer.alloc(0)));
}

export function parseDynamicAuthentication(data: Uint8Array, step: AccessStep): Map<number, Buffer> {
  try {
    const outer = decodeTlv(data, 0, 'dynamic authentication data');
    if (outer.tag !== 0x7c) throw new LdsError('dynamic authentication data', 'not tag 7C');
    return new Map(decodeTlvList(outer.value, 'dynamic authentication data').map((t) => [t.tag, t.value]));
  } catch (error) {
    if (error instanceof LdsError) throw new AccessControlError(step, error.message);
    throw error;
  }
}

export interface PaceResult {
  session: SessionKeys;
  info: PaceInfo;
  /** the chip's ephemeral public key */
  chipEphemeralPublicKey: Buffer;
  /** PACE-CAM: the chip's mapping key and its decrypted chip authentication data, checked against DG14 */
  cam?: { chipMapPublicKey: Point; chipAuthenticationData: Buffer };
}

// ---- PACE-CAM, Chip Authentication Mapping (part 11 §4.4.3.3.3 and §4.4.3.5.2) ---------------------

/** A_IC is encrypted with KSenc in CBC with IV = E(KSenc, −1), i.e. an all-ones SSC block. */
function camIv(ksEnc: Uint8Array): Buffer {
  return aesEncryptBlock(ksEnc, Buffer.alloc(16, 0xff));
}

/** Chip side: CA_IC = SK_map,IC · SK_IC⁻¹ mod n, so that PK_map,IC = CA_IC · PK_IC. */
export function chipAuthenticationData(d: EcDomain, mapSecret: bigint, staticSecret: bigint): Buffer {
  const value = d.Point.Fn.mul(mapSecret, d.Point.Fn.inv(staticSecret));
  return Buffer.from(value.toString(16).padStart(d.size * 2, '0'), 'hex');
}

export function encryptChipAuthenticationData(ksEnc: Uint8Array, data: Uint8Array): Buffer {
  return aesCbcEncrypt(ksEnc, camIv(ksEnc), padTo(data, 16));
}

export function decryptChipAuthenticationData(ksEnc: Uint8Array, cryptogram: Uint8Array): Buffer {
  try {
    return unpadFrom(aesCbcDecrypt(ksEnc, camIv(ksEnc), cryptogram), 16);
  } catch {
    throw new AccessControlError('pace-cam', 'encrypted chip authentication data does not decrypt');
  }
}

/** Terminal side: the chip proved its DG14 key if PK_map,IC = CA_IC · PK_IC (part 11 §4.4.3.5.2). */
export function verifyChipAuthenticationMapping(
  d: EcDomain,
  chipMapPublicKey: Point,
  chipAuthenticationDataValue: Uint8Array,
  chipStaticPublicKey: Point,
): boolean {
  const k = scalarFromBytes(chipAuthenticationDataValue);
  if (k <= 0n || k >= d.order) return false;
  try {
    return chipStaticPublicKey.multiply(k).equals(chipMapPublicKey);
  } catch {
    return false;
  }
}

export interface PaceOptions {
  rng?: Rng;
  /** send the parameterId (84) in MSE:Set AT: needed when EF.CardAccess offers more than one */
  withParameterId?: boolean;
}

async function generalAuthenticate(
  channel: ApduChannel,
  step: AccessStep,
  last: boolean,
  tag: number | undefined,
  value: Uint8Array | undefined,
  expected: number,
): Promise<Map<number, Buffer>> {
  const answer = await channel.send({
    cla: last ? 0x00 : 0x10, // command chaining until the last round (§4.4.4.2)
    ins: 0x86,
    p1: 0,
    p2: 0,
    data: encodeDynamicAuthentication(tag, value),
    le: 256,
  });
  if (answer.sw !== SW_SUCCESS)
    throw new AccessControlError(
      step,
      step === 'pace-tokens' ? 'chip refused the token (wrong CAN or MRZ?)' : 'chip refused',
      answer.sw,
    );
  const objects = parseDynamicAuthentication(answer.data, step);
  if (!objects.has(expected))
    throw new AccessControlError(step, `answer without tag ${expected.toString(16)}`);
  return objects;
}

/** Runs PACE with ECDH-GM over a plain channel; returns AES or 3DES session keys with SSC 0. */
export async function performPace(
  channel: ApduChannel,
  info: PaceInfo,
  password: PacePassword,
  options: PaceOptions = {},
): Promise<PaceResult> {
  const rng = options.rng ?? secureRandom;
  const d = paceDomain(info);
  if (info.mapping === 'cam' && info.cipher !== 'aes')
    throw new AccessControlError('pace-set-at', 'PACE-CAM needs AES');
  const kPi = paceKey(password, info);
  const setAt = await channel.send({
    cla: 0x00,
    ins: 0x22,
    p1: 0xc1,
    p2: 0xa4,
    data: mseSetAtData(info, password, options.withParameterId ?? false),
  });
  if (setAt.sw !== SW_SUCCESS) throw new AccessControlError('pace-set-at', 'chip refused', setAt.sw);

  const z = (await generalAuthenticate(channel, 'pace-nonce', false, undefined, undefined, 0x80)).get(0x80)!;
  let nonce: Buffer;
  try {
    nonce = decryptNonce(kPi, z, info);
  } catch {
    throw new AccessControlError('pace-nonce', `encrypted nonce of ${z.length} bytes`);
  }

  const mapKey = randomScalar(d, rng);
  const mapPublic = basePointPublicKey(d, mapKey);
  const mapAnswer = await generalAuthenticate(channel, 'pace-map', false, 0x81, mapPublic, 0x82);
  const chipMapPublic = chipPoint(d, mapAnswer.get(0x82)!, 'pace-map');
  const ephemeralKey = randomScalar(d, rng);
  const ephemeralPublic = encodePoint(mappedPublicKey(d, nonce, mapKey, chipMapPublic, ephemeralKey));
  const agreement = await generalAuthenticate(
    channel,
    'pace-key-agreement',
    false,
    0x83,
    ephemeralPublic,
    0x84,
  );
  const chipEphemeral = chipPoint(d, agreement.get(0x84)!, 'pace-key-agreement');
  const chipEphemeralPublic = encodePoint(chipEphemeral);
  // §4.4.3.4: the terminal must check that the chip did not reflect its own key.
  if (chipEphemeralPublic.equals(ephemeralPublic))
    throw new AccessControlError('pace-key-agreement', 'chip returned our own ephemeral key');
  const { ksEnc, ksMac } = paceSessionKeys(sharedSecretX(d, ephemeralKey, chipEphemeral), info);

  const tokenIfd = authenticationToken(ksMac, info, info.protocol, chipEphemeralPublic);
  const tokens = await generalAuthenticate(channel, 'pace-tokens', true, 0x85, tokenIfd, 0x86);
  const expected = authenticationToken(ksMac, info, info.protocol, ephemeralPublic);
  if (!macEquals(expected, tokens.get(0x86)!))
    throw new AccessControlError('pace-tokens', "the chip's authentication token does not verify");
  let cam: PaceResult['cam'];
  if (info.mapping === 'cam') {
    const encrypted = tokens.get(0x8a);
    if (!encrypted) throw new AccessControlError('pace-cam', 'no encrypted chip authentication data (8A)');
    cam = {
      chipMapPublicKey: chipMapPublic,
      chipAuthenticationData: decryptChipAuthenticationData(ksEnc, encrypted),
    };
  }
  return {
    session: { ksEnc, ksMac, ssc: 0n, cipher: info.cipher },
    info,
    chipEphemeralPublicKey: chipEphemeralPublic,
    ...(cam ? { cam } : {}),
  };
}

function chipPoint(d: EcDomain, bytes: Uint8Array, step: AccessStep): Point {
  try {
    return decodePoint(d, bytes, 'chip public key');
  } catch (error) {
    if (error instanceof LdsError) throw new AccessControlError(step, error.message);
    throw error;
  }
}

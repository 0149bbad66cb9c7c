import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { type ApduChannel, SW_SUCCESS } from './apdu.js';
import { type Rng, secureRandom } from './bac.js';
import {
  type EcDomain,
  EC_DOMAINS,
  type Point,
  decodePoint,
  ecdhKeyPair,
  domainForOid,
  encodePoint,
  randomScalar,
  scalarFromBytes,
} from './curves.js';
import { ChipAuthError, LdsError } from './errors.js';
import { decodeOid, encodeOid } from './lds.js';
import { encodeDynamicAuthentication, paceSessionKeys } from './pace.js';
import { type ChipAuthenticationInfo, type SecurityInfos } from './security-infos.js';
import { type SessionKeys } from './sm.js';
import { decodeTlv, decodeTlvList, encodeTlv } from './tlv.js';

/**
 * Chip Authentication v1 with ECDH (ICAO 9303 part 11 §6.2; BSI TR-03110 part 1 §3.3.1): the
 * terminal sends an ephemeral public key on the domain of the chip's static DG14 key, both sides
 * derive new SM keys from the shared point, and only a chip holding the private key can go on
 * talking. The verdict is implicit: the next protected response must verify under the new keys.
 */
const ID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const ID_PRIME_FIELD = '1.2.840.10045.1.1';

export interface ChipAuthKey {
  info: ChipAuthenticationInfo;
  domain: EcDomain;
  publicPoint: Point;
  keyId?: number;
}

/** Explicit ECParameters (X9.62 / RFC 3279), as many chips write them: matched to a known curve. */
function domainFromExplicit(parameters: Buffer): EcDomain | undefined {
  const [, fieldId, , base] = decodeTlvList(decodeTlv(parameters, 0, 'DG14').value, 'DG14');
  if (!fieldId || !base) return undefined;
  const [fieldType, prime] = decodeTlvList(fieldId.value, 'DG14');
  if (!fieldType || !prime || decodeOid(fieldType.value, 'DG14') !== ID_PRIME_FIELD) return undefined;
  const p = scalarFromBytes(prime.value);
  return Object.values(EC_DOMAINS).find(
    (d) => d.Point.Fp.ORDER === p && Buffer.from(d.Point.BASE.toBytes(false)).equals(base.value),
  );
}

/** The curve and point of an EC SubjectPublicKeyInfo (named or explicit parameters). */
export function parseEcPublicKey(spki: Uint8Array): { domain: EcDomain; point: Point } {
  let info: SubjectPublicKeyInfo;
  try {
    info = AsnConvert.parse(Buffer.from(spki), SubjectPublicKeyInfo);
  } catch {
    throw new LdsError('DG14', 'chip authentication key is not a SubjectPublicKeyInfo');
  }
  if (info.algorithm.algorithm !== ID_EC_PUBLIC_KEY || !info.algorithm.parameters)
    throw new LdsError('DG14', 'chip authentication key is not an EC key');
  const parameters = Buffer.from(info.algorithm.parameters);
  const domain =
    parameters[0] === 0x06
      ? domainForOid(decodeOid(decodeTlv(parameters, 0, 'DG14').value, 'DG14'))
      : domainFromExplicit(parameters);
  if (!domain) throw new LdsError('DG14', 'chip authentication key is on an unsupported curve');
  return { domain, point: decodePoint(domain, new Uint8Array(info.subjectPublicKey), 'DG14') };
}

/** SubjectPublicKeyInfo with a named curve, for chip images. */
export function encodeEcPublicKey(domain: EcDomain, point: Point): Buffer {
  return encodeTlv(
    0x30,
    encodeTlv(0x30, encodeTlv(0x06, encodeOid(ID_EC_PUBLIC_KEY)), encodeTlv(0x06, encodeOid(domain.oid))),
    encodeTlv(0x03, Buffer.from([0]), encodePoint(point)),
  );
}

/** Picks the ECDH ChipAuthenticationInfo and the DG14 key it names (by keyId when given). */
export function chipAuthenticationKey(dg14: SecurityInfos): ChipAuthKey | undefined {
  for (const info of dg14.chipAuthentication) {
    if (info.agreement !== 'ecdh') continue;
    const key = dg14.chipAuthenticationPublicKeys.find(
      (k) => k.agreement === 'ecdh' && (info.keyId === undefined || k.keyId === info.keyId),
    );
    if (!key) continue;
    const { domain, point } = parseEcPublicKey(key.subjectPublicKeyInfo);
    return { info, domain, publicPoint: point, ...(key.keyId === undefined ? {} : { keyId: key.keyId }) };
  }
  return undefined;
}

/** Session keys after CA: KDF over the shared x coordinate, SSC 0, the CA OID's cipher. */
export function chipAuthenticationSessionKeys(
  sharedX: Uint8Array,
  info: ChipAuthenticationInfo,
): SessionKeys {
  return { ...paceSessionKeys(sharedX, info), ssc: 0n, cipher: info.cipher };
}

/** MSE:Set AT for CA (p1-p2 41 A4): 80 CA OID, 84 keyId when DG14 holds several keys. */
export function caSetAtData(key: ChipAuthKey): Buffer {
  return Buffer.concat([
    encodeTlv(0x80, encodeOid(key.info.protocol)),
    ...(key.keyId === undefined ? [] : [encodeTlv(0x84, Buffer.from([key.keyId]))]),
  ]);
}

/**
 * Runs CA over the current secure channel. AES suites use MSE:Set AT + GENERAL AUTHENTICATE;
 * 3DES uses MSE:Set KAT (part 11 §6.2.4). Returns the keys to re-key SM with: the caller
 * switches to them right after this exchange.
 */
export async function performChipAuthentication(
  channel: ApduChannel,
  key: ChipAuthKey,
  rng: Rng = secureRandom,
): Promise<SessionKeys> {
  const secret = randomScalar(key.domain, rng);
  const keyPair = ecdhKeyPair(key.domain, secret);
  const ephemeral = keyPair.publicKey;
  if (key.info.cipher === '3des') {
    const answer = await channel.send({
      cla: 0x00,
      ins: 0x22,
      p1: 0x41,
      p2: 0xa6,
      data: Buffer.concat([
        encodeTlv(0x91, ephemeral),
        ...(key.keyId === undefined ? [] : [encodeTlv(0x84, Buffer.from([key.keyId]))]),
      ]),
    });
    if (answer.sw !== SW_SUCCESS) throw new ChipAuthError('set-at', 'MSE:Set KAT refused', answer.sw);
  } else {
    const setAt = await channel.send({ cla: 0x00, ins: 0x22, p1: 0x41, p2: 0xa4, data: caSetAtData(key) });
    if (setAt.sw !== SW_SUCCESS) throw new ChipAuthError('set-at', 'MSE:Set AT refused', setAt.sw);
    const answer = await channel.send({
      cla: 0x00,
      ins: 0x86,
      p1: 0,
      p2: 0,
      data: encodeDynamicAuthentication(0x80, ephemeral),
      le: 256,
    });
    if (answer.sw !== SW_SUCCESS)
      throw new ChipAuthError('general-authenticate', 'chip refused the ephemeral key', answer.sw);
  }
  const shared = keyPair.sharedX(key.publicPoint);
  return chipAuthenticationSessionKeys(shared, key.info);
}

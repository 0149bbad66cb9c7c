import {
  type KeyObject,
  constants,
  createHash,
  privateEncrypt,
  publicDecrypt,
  sign,
  verify,
} from 'node:crypto';
import { type ApduChannel, SW_SUCCESS } from './apdu.js';
import { constantTimeEquals } from './compare.js';
import { type Rng, secureRandom } from './bac.js';
import { ActiveAuthError } from './errors.js';
import { type HashName } from './sod.js';

/**
 * Active Authentication (ICAO 9303 part 11 §6.1): the chip signs our fresh 8-byte challenge with
 * the private key whose public half is in DG15 — proof that the chip is not a copy of the data.
 * RSA signatures use ISO/IEC 9796-2 digital signature scheme 1 (partial message recovery);
 * ECDSA signatures are plain r ‖ s (BSI TR-03111).
 */
export interface AaVerdict {
  status: 'passed' | 'failed' | 'not-supported';
  detail?: string;
}

/** ISO/IEC 10118-3 hash identifiers in the two-byte trailer xx CC (ISO/IEC 9796-2 §8.1.2). */
const TRAILER_HASH: Readonly<Record<number, HashName>> = {
  0x33: 'sha1',
  0x34: 'sha256',
  0x35: 'sha512',
  0x36: 'sha384',
  0x38: 'sha224',
};
const HASH_LENGTH: Readonly<Record<HashName, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

/** Checks an AA signature over `challenge`; returns false on any mismatch, never throws on bad input. */
export function verifyActiveAuthentication(
  publicKey: KeyObject,
  challenge: Uint8Array,
  signature: Uint8Array,
  ecdsaHash: HashName = 'sha256',
): boolean {
  try {
    if (publicKey.asymmetricKeyType === 'ec')
      return verify(ecdsaHash, challenge, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    if (publicKey.asymmetricKeyType !== 'rsa') return false;
    const f = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
    if (f[0] !== 0x6a) return false;
    let hash: HashName;
    let trailerLength: number;
    if (f[f.length - 1] === 0xbc) {
      hash = 'sha1';
      trailerLength = 1;
    } else if (f[f.length - 1] === 0xcc && TRAILER_HASH[f[f.length - 2]!]) {
      hash = TRAILER_HASH[f[f.length - 2]!]!;
      trailerLength = 2;
    } else return false;
    const digestStart = f.length - trailerLength - HASH_LENGTH[hash];
    if (digestStart < 1) return false;
    const m1 = f.subarray(1, digestStart);
    const digest = f.subarray(digestStart, f.length - trailerLength);
    return constantTimeEquals(createHash(hash).update(m1).update(challenge).digest(), digest);
  } catch {
    return false;
  }
}

/** Chip side: signs `challenge` as an eMRTD does (the encoder beside the verifier). */
export function signActiveAuthentication(
  privateKey: KeyObject,
  challenge: Uint8Array,
  rng: Rng = secureRandom,
  ecdsaHash: HashName = 'sha256',
): Buffer {
  if (privateKey.asymmetricKeyType === 'ec')
    return sign(ecdsaHash, challenge, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const k = (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const m1 = rng(k - 20 - 2);
  const digest = createHash('sha1').update(m1).update(challenge).digest();
  return privateEncrypt(
    { key: privateKey, padding: constants.RSA_NO_PADDING },
    Buffer.concat([Buffer.from([0x6a]), m1, digest, Buffer.from([0xbc])]),
  );
}

/** Sends INTERNAL AUTHENTICATE with a fresh challenge and verifies the answer. */
export async function performActiveAuthentication(
  channel: ApduChannel,
  publicKey: KeyObject,
  rng: Rng = secureRandom,
  ecdsaHash: HashName = 'sha256',
): Promise<AaVerdict> {
  const challenge = rng(8);
  const answer = await channel.send({ cla: 0x00, ins: 0x88, p1: 0, p2: 0, data: challenge, le: 256 });
  if (answer.sw !== SW_SUCCESS)
    throw new ActiveAuthError(
      'internal-authenticate',
      `chip answered SW ${answer.sw.toString(16).toUpperCase()}`,
    );
  return verifyActiveAuthentication(publicKey, challenge, answer.data, ecdsaHash)
    ? { status: 'passed' }
    : { status: 'failed', detail: 'the chip signature does not verify against DG15' };
}

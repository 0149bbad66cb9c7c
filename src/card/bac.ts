import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEquals } from './compare.js';
import { type ApduChannel, SW_SUCCESS } from './apdu.js';
import { retailMac, tdesDecrypt, tdesEncrypt } from './des.js';
import { AccessControlError } from './errors.js';
import { checkDigit } from './mrz.js';
import { type SessionKeys } from './sm.js';

/** The three MRZ fields BAC keys on (ICAO 9303 part 11 §9.7.2 / part 4 §4.2). Dates are YYMMDD. */
export interface BacKey {
  documentNumber: string;
  dateOfBirth: string;
  dateOfExpiry: string;
}

export type Rng = (length: number) => Buffer;
export const secureRandom: Rng = (length) => randomBytes(length);

/** "MRZ_information": document number (≥9, `<`-filled) ‖ check, birth ‖ check, expiry ‖ check. */
export function mrzInformation(key: BacKey): string {
  const doc = key.documentNumber.toUpperCase().padEnd(9, '<');
  for (const [field, value] of [
    ['date of birth', key.dateOfBirth],
    ['date of expiry', key.dateOfExpiry],
  ] as const) {
    if (!/^\d{6}$/.test(value)) throw new AccessControlError('input', `${field} is not YYMMDD`);
  }
  if (!/^[0-9A-Z<]{9,}$/.test(doc))
    throw new AccessControlError('input', 'document number has characters outside the MRZ set');
  return (
    doc +
    checkDigit(doc) +
    key.dateOfBirth +
    checkDigit(key.dateOfBirth) +
    key.dateOfExpiry +
    checkDigit(key.dateOfExpiry)
  );
}

/** Kseed = first 16 bytes of SHA-1(MRZ_information) (part 11 §9.7.2, Appendix D.2). */
export function bacKeySeed(key: BacKey): Buffer {
  return createHash('sha1').update(mrzInformation(key), 'ascii').digest().subarray(0, 16);
}

/** Sets each DES key byte's least significant bit for odd parity (FIPS 46-3). */
export function adjustParity(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    let ones = 0;
    for (let bit = 1; bit < 8; bit++) ones += (b >> bit) & 1;
    out[i] = (b & 0xfe) | (ones % 2 === 0 ? 1 : 0);
  }
  return out;
}

/** Key derivation function for 3DES (part 11 §9.7.1.1): counter 1 → Kenc, 2 → Kmac. */
export function deriveKey(seed: Uint8Array, counter: 1 | 2): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  return adjustParity(createHash('sha1').update(seed).update(c).digest().subarray(0, 16));
}

export function bacKeys(key: BacKey): { kEnc: Buffer; kMac: Buffer } {
  const seed = bacKeySeed(key);
  return { kEnc: deriveKey(seed, 1), kMac: deriveKey(seed, 2) };
}

/** MUTUAL AUTHENTICATE command data: E_IFD = E(Kenc, RND.IFD ‖ RND.IC ‖ K.IFD), M_IFD (§9.7.4.2). */
export function mutualAuthenticateData(
  kEnc: Uint8Array,
  kMac: Uint8Array,
  rndIfd: Uint8Array,
  rndIc: Uint8Array,
  kIfd: Uint8Array,
): Buffer {
  const eIfd = tdesEncrypt(kEnc, Buffer.concat([rndIfd, rndIc, kIfd]));
  return Buffer.concat([eIfd, retailMac(kMac, eIfd)]);
}

/** Checks the chip's cryptogram (MAC, then RND.IC/RND.IFD echo) and returns K.IC (§9.7.4.2). */
export function openChipCryptogram(
  kEnc: Uint8Array,
  kMac: Uint8Array,
  response: Uint8Array,
  rndIfd: Uint8Array,
  rndIc: Uint8Array,
): Buffer {
  if (response.length !== 40)
    throw new AccessControlError('verify-chip-cryptogram', `response of ${response.length} bytes, not 40`);
  const eIc = response.subarray(0, 32);
  if (!constantTimeEquals(retailMac(kMac, eIc), response.subarray(32)))
    throw new AccessControlError('verify-chip-cryptogram', 'MAC of the chip cryptogram does not verify');
  const s = tdesDecrypt(kEnc, eIc);
  if (!s.subarray(0, 8).equals(rndIc) || !s.subarray(8, 16).equals(rndIfd))
    throw new AccessControlError('verify-chip-cryptogram', 'the chip did not echo our nonces');
  return s.subarray(16, 32);
}

/** Session keys from K.IFD ⊕ K.IC and SSC = RND.IC[4..8] ‖ RND.IFD[4..8] (§9.7.4.3, §9.8.2). */
export function bacSessionKeys(
  kIfd: Uint8Array,
  kIc: Uint8Array,
  rndIc: Uint8Array,
  rndIfd: Uint8Array,
): SessionKeys {
  const seed = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) seed[i] = kIfd[i]! ^ kIc[i]!;
  const ssc = Buffer.concat([rndIc.subarray(4, 8), rndIfd.subarray(4, 8)]).readBigUInt64BE(0);
  return { ksEnc: deriveKey(seed, 1), ksMac: deriveKey(seed, 2), ssc };
}

/**
 * Runs BAC over a plain channel: GET CHALLENGE, MUTUAL AUTHENTICATE, session keys (§9.7.4).
 * The access layer returns only `SessionKeys`; PACE will return the same shape beside it.
 */
export async function performBac(
  channel: ApduChannel,
  key: BacKey,
  rng: Rng = secureRandom,
): Promise<SessionKeys> {
  const { kEnc, kMac } = bacKeys(key);
  const challenge = await channel.send({ cla: 0x00, ins: 0x84, p1: 0, p2: 0, le: 8 });
  if (challenge.sw !== SW_SUCCESS || challenge.data.length !== 8)
    throw new AccessControlError('get-challenge', `answer of ${challenge.data.length} bytes`, challenge.sw);
  const rndIc = challenge.data;
  const rndIfd = rng(8);
  const kIfd = rng(16);
  const answer = await channel.send({
    cla: 0x00,
    ins: 0x82,
    p1: 0,
    p2: 0,
    data: mutualAuthenticateData(kEnc, kMac, rndIfd, rndIc, kIfd),
    le: 40,
  });
  // 6300 / 6982 here means the chip's MAC check failed: the MRZ key is wrong.
  if (answer.sw !== SW_SUCCESS)
    throw new AccessControlError(
      'mutual-authenticate',
      'chip refused the terminal cryptogram (wrong MRZ key?)',
      answer.sw,
    );
  const kIc = openChipCryptogram(kEnc, kMac, answer.data, rndIfd, rndIc);
  return bacSessionKeys(kIfd, kIc, rndIc, rndIfd);
}

/**
 * HPKE (RFC 9180) between the registry and a kiosk, from `@hpke/core`: mode_auth with
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-128-GCM (the suite of RFC 9180 Appendix A.1.3,
 * whose test vector `test/unit/store/hpke.test.ts` checks). Auth mode proves the sender's static
 * X25519 key, so a box opens only if the pinned registry (or the enrolled kiosk) sealed it; the
 * `info` names the kiosk and the entry, so a box cannot be moved to another kiosk or entry.
 *
 * Box layout (base64): enc (32 bytes, the sender's ephemeral public key) | AEAD ciphertext.
 */
import type { KeyObject, webcrypto } from 'node:crypto';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';

const ENC_BYTES = 32;
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

/** A box that does not open: not ours, not from the pinned sender, moved, or damaged. */
export class HpkeOpenError extends Error {
  override readonly name = 'HpkeOpenError';
}

/** `info` of the pickup secrets in a manifest entry: binds the kiosk and the pickup. */
export function manifestInfo(kioskId: string, pickupId: string): Buffer {
  return Buffer.from(`cccd-kiosk/v1 manifest ${kioskId} ${pickupId}`, 'utf8');
}

/** `info` of a citizen's data update sealed to the registry: binds the kiosk and the tracking code. */
export function updateInfo(kioskId: string, trackingCode: string): Buffer {
  return Buffer.from(`cccd-kiosk/v1 update ${kioskId} ${trackingCode}`, 'utf8');
}

/** `info` of a kiosk's manifest resync request (its proof): binds the kiosk and the request id. */
export function resyncInfo(kioskId: string, requestId: string): Buffer {
  return Buffer.from(`cccd-kiosk/v1 resync ${kioskId} ${requestId}`, 'utf8');
}

/** Raw 32-byte X25519 private key of a Node KeyObject (JWK `d`). */
function rawPrivate(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'X25519' || typeof jwk.d !== 'string')
    throw new TypeError('expected an X25519 private key');
  return Buffer.from(jwk.d, 'base64url');
}

async function keyPairOf(
  privateKey: KeyObject,
): Promise<{ privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey }> {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.crv !== 'X25519' || typeof jwk.x !== 'string')
    throw new TypeError('expected an X25519 private key');
  return {
    privateKey: await suite.kem.deserializePrivateKey(rawPrivate(privateKey)),
    publicKey: await suite.kem.deserializePublicKey(Buffer.from(jwk.x, 'base64url')),
  };
}

/** Seals `plaintext` to `recipient` (raw X25519 public key), authenticated as `sender`. */
export async function hpkeSeal(
  plaintext: Buffer,
  options: { recipient: Buffer; sender: KeyObject; info: Buffer },
): Promise<string> {
  const sender = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(options.recipient),
    senderKey: await keyPairOf(options.sender),
    info: options.info,
  });
  const ciphertext = Buffer.from(await sender.seal(plaintext));
  return Buffer.concat([Buffer.from(sender.enc), ciphertext]).toString('base64');
}

/** Opens a box sealed to `recipient` by the holder of `sender` (raw X25519 public key). */
export async function hpkeOpen(
  box: string,
  options: { recipient: KeyObject; sender: Buffer; info: Buffer },
): Promise<Buffer> {
  const bytes = Buffer.from(box, 'base64');
  if (bytes.length <= ENC_BYTES + 16) throw new HpkeOpenError('too short for an HPKE box');
  try {
    const context = await suite.createRecipientContext({
      recipientKey: await keyPairOf(options.recipient),
      enc: bytes.subarray(0, ENC_BYTES),
      senderPublicKey: await suite.kem.deserializePublicKey(options.sender),
      info: options.info,
    });
    return Buffer.from(await context.open(bytes.subarray(ENC_BYTES)));
  } catch (error) {
    throw new HpkeOpenError('HPKE box does not open', { cause: error });
  }
}

/** The registry key a kiosk seals update submissions to; absent: the kiosk cannot submit updates. */
export class NoRegistrySealingKey extends Error {
  override readonly name = 'NoRegistrySealingKey';
}

/**
 * A sealer of data-update submissions for one kiosk: `(trackingCode, plaintext) → box`, sealed to the
 * registry's pinned key, authenticated by the kiosk's own key, bound to kiosk + tracking code.
 */
export function updateSealer(
  kioskId: string,
  kioskKey: KeyObject,
  registrySealingKey: string | undefined,
): (trackingCode: string, plaintext: Buffer) => Promise<string> {
  return (trackingCode, plaintext) => {
    if (!registrySealingKey)
      return Promise.reject(new NoRegistrySealingKey('no registry sealing key pinned'));
    return hpkeSeal(plaintext, {
      recipient: Buffer.from(registrySealingKey, 'base64'),
      sender: kioskKey,
      info: updateInfo(kioskId, trackingCode),
    });
  };
}

/** The suite itself, for the RFC 9180 test-vector check. */
export const HPKE_SUITE = suite;

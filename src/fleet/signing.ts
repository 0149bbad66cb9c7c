/**
 * Signatures of operations messages (config, commands): Ed25519 (RFC 8032) over the RFC 8785 (JCS)
 * canonical JSON of the envelope without its `sig` field. `sig` is base64 of the 64-byte signature;
 * `keyId` names the signing key: the first 16 hex digits of SHA-256 of the raw 32-byte public key.
 * Shared with `kiosk provision` (issue 7b), which pins operations keys as base64 raw public keys.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Envelope } from '../link/messages.js';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4); the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export type SignatureRefusal = 'unsigned' | 'unknown-key' | 'bad-signature';

/** A message whose signature does not prove it comes from a pinned operations key. */
export class SignatureRefused extends Error {
  override readonly name = 'SignatureRefused';
  constructor(readonly reason: SignatureRefusal) {
    super(`signature refused: ${reason}`);
  }
}

/** A public key that is not a base64 raw 32-byte Ed25519 key. */
export class BadPublicKey extends Error {
  override readonly name = 'BadPublicKey';
}

/** Raw 32-byte Ed25519 public key → KeyObject. */
export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new BadPublicKey(`expected 32 raw key bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Base64 raw public key (as pinned in `fleet.opsPublicKeys`) → KeyObject. */
export function publicKeyFromBase64(base64: string): KeyObject {
  return publicKeyFromRaw(Buffer.from(base64, 'base64'));
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519' || !der.subarray(0, 12).equals(ED25519_SPKI_PREFIX))
    throw new BadPublicKey('not an Ed25519 public key');
  return der.subarray(12);
}

/** `keyId`: first 16 hex digits of SHA-256 of the raw 32-byte public key. */
export function keyIdOf(key: KeyObject | Buffer): string {
  const raw = Buffer.isBuffer(key) ? key : rawPublicKey(key);
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export interface OpsKeyPair {
  privateKeyPem: string;
  /** base64 of the raw 32-byte public key */
  publicKey: string;
  keyId: string;
}

export function generateOpsKeyPair(): OpsKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: raw.toString('base64'),
    keyId: keyIdOf(raw),
  };
}

export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new BadPublicKey('not an Ed25519 private key');
  return key;
}

/** The bytes that are signed: JCS (RFC 8785) of the envelope without `sig`. */
export function signedBytes(message: Envelope): Buffer {
  const { sig: _ignored, ...unsigned } = message;
  const text = canonicalize(unsigned);
  if (text === undefined) throw new TypeError('envelope cannot be canonicalised');
  return Buffer.from(text, 'utf8');
}

/** Returns the envelope with `keyId` set and `sig` over everything else. */
export function signEnvelope<M extends Envelope>(message: M, privateKey: KeyObject): M {
  const keyId = keyIdOf(createPublicKey(privateKey));
  const withKey = { ...message, keyId };
  delete withKey.sig;
  const signature = sign(null, signedBytes(withKey), privateKey);
  return { ...withKey, sig: signature.toString('base64') };
}

/** Pinned keys by keyId. */
export type PinnedKeys = ReadonlyMap<string, KeyObject>;

export function pinKeys(base64Keys: readonly string[]): PinnedKeys {
  return new Map(
    base64Keys.map((base64) => {
      const key = publicKeyFromBase64(base64);
      return [keyIdOf(key), key] as const;
    }),
  );
}

/** Throws SignatureRefused unless `message` is signed by one of `keys`. */
export function verifyEnvelope(message: Envelope, keys: PinnedKeys): void {
  if (!message.sig || !message.keyId) throw new SignatureRefused('unsigned');
  const key = keys.get(message.keyId);
  if (!key) throw new SignatureRefused('unknown-key');
  const signature = Buffer.from(message.sig, 'base64');
  if (signature.length !== 64 || !verify(null, signedBytes(message), key, signature))
    throw new SignatureRefused('bad-signature');
}

/**
 * Sealing of registry secrets to one kiosk (ECIES-style): the sender makes an ephemeral X25519
 * key pair, derives an AES-256-GCM key with HKDF-SHA256 (RFC 5869) from the X25519 shared secret
 * (RFC 7748 §6.1), salted with both public keys, and encrypts. Only the kiosk's private key opens
 * it. Sealed box layout: version (1) | ephemeral public key (32) | IV (12) | tag (16) | ciphertext.
 *
 * The key pair lives at `<dataDir>/identity/sealing.key` (PKCS#8 PEM, mode 0600), made at first start.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const VERSION = 1;
const INFO = Buffer.from('cccd-kiosk seal v1');
const RAW_PUBLIC = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER = 1 + RAW_PUBLIC + IV_BYTES + TAG_BYTES;
/** SPKI DER prefix of an X25519 public key (RFC 8410 §4): the raw 32 bytes follow it. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** A sealed box that cannot be opened: wrong key, damaged or not a sealed box at all. */
export class SealError extends Error {
  override readonly name = 'SealError';
}

function asPublic(key: KeyObject): KeyObject {
  return key.type === 'public' ? key : createPublicKey(key);
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = asPublic(key).export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - RAW_PUBLIC));
}

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== RAW_PUBLIC) throw new SealError(`an X25519 public key is ${RAW_PUBLIC} bytes`);
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function deriveKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32));
}

/** Seals `plaintext` to the holder of the private key of `recipient` (an X25519 public key). */
export function seal(plaintext: Buffer, recipient: KeyObject): string {
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralRaw = rawPublicKey(ephemeral.publicKey);
  const recipientRaw = rawPublicKey(recipient);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: asPublic(recipient) });
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(shared, ephemeralRaw, recipientRaw), iv);
  cipher.setAAD(Buffer.from([VERSION]));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), ephemeralRaw, iv, cipher.getAuthTag(), ciphertext]).toString(
    'base64',
  );
}

/** Opens a sealed box with the kiosk's private key; throws SealError if it is not ours or damaged. */
export function unseal(box: string, privateKey: KeyObject): Buffer {
  const bytes = Buffer.from(box, 'base64');
  if (bytes.length < HEADER || bytes[0] !== VERSION) throw new SealError('not a sealed box of version 1');
  const ephemeralRaw = bytes.subarray(1, 1 + RAW_PUBLIC);
  const iv = bytes.subarray(1 + RAW_PUBLIC, 1 + RAW_PUBLIC + IV_BYTES);
  const tag = bytes.subarray(1 + RAW_PUBLIC + IV_BYTES, HEADER);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: publicKeyFromRaw(Buffer.from(ephemeralRaw)) });
  } catch (error) {
    throw new SealError('bad ephemeral key', { cause: error });
  }
  const decipher = createDecipheriv(
    'aes-256-gcm',
    deriveKey(shared, Buffer.from(ephemeralRaw), rawPublicKey(privateKey)),
    iv,
  );
  decipher.setAAD(Buffer.from([VERSION]));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(bytes.subarray(HEADER)), decipher.final()]);
  } catch (error) {
    throw new SealError('sealed box does not open with this key', { cause: error });
  }
}

export interface SealingIdentity {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** raw 32-byte public key, base64: what the registry seals to */
  publicKeyBase64: string;
  /**
   * A keyed hash for looking a citizen up by ID number without storing the number: HMAC-SHA256
   * under a key derived from the sealing key (HKDF, separate info string).
   */
  lookupHash(value: string): string;
}

export function sealingIdentityPath(dataDir: string): string {
  return join(dataDir, 'identity', 'sealing.key');
}

/** Loads the kiosk's sealing key pair, generating it (PKCS#8 PEM, 0600) if the file is absent. */
export function loadOrCreateSealingIdentity(file: string): SealingIdentity {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('x25519');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  return sealingIdentityOf(createPrivateKey(readFileSync(file)));
}

export function sealingIdentityOf(privateKey: KeyObject): SealingIdentity {
  if (privateKey.asymmetricKeyType !== 'x25519') throw new SealError('the sealing key must be X25519');
  const publicKey = asPublic(privateKey);
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const lookupKey = Buffer.from(hkdfSync('sha256', pkcs8, Buffer.alloc(0), 'cccd-kiosk id lookup v1', 32));
  return {
    privateKey,
    publicKey,
    publicKeyBase64: rawPublicKey(publicKey).toString('base64'),
    lookupHash: (value) => createHmac('sha256', lookupKey).update(value).digest('base64url'),
  };
}

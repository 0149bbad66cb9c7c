/**
 * Ed25519 signing keys for TUF roles, as @tufjs/models expects them: `keyval.public` in hex and
 * the key id the sha256 of the key's canonical JSON (TUF spec §4.2). Private keys are PKCS#8 PEM
 * in a 0600 file; root keys live offline (a technician brings two of the three to a signing).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, Signature } from '@tufjs/models';
import { z } from 'zod';

export interface SigningKey {
  key: Key;
  privateKey: KeyObject;
}

/** The raw 32-byte Ed25519 public key is the tail of its SPKI DER encoding (RFC 8410). */
function publicHex(privateKey: KeyObject): string {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('hex');
}

export function signingKeyFrom(privateKey: KeyObject): SigningKey {
  const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: publicHex(privateKey) } };
  const keyID = createHash('sha256').update(canonicalize(body)).digest('hex');
  return {
    key: new Key({ keyID, keyType: body.keytype, scheme: body.scheme, keyVal: body.keyval }),
    privateKey,
  };
}

export function generateSigningKey(): SigningKey {
  return signingKeyFrom(generateKeyPairSync('ed25519').privateKey);
}

export function signerOf(signing: SigningKey): (data: Buffer) => Signature {
  return (data) =>
    new Signature({ keyID: signing.key.keyID, sig: sign(null, data, signing.privateKey).toString('hex') });
}

const KeyFileSchema = z.strictObject({ keyid: z.string(), privateKeyPem: z.string() });

export async function writeKeyFile(path: string, signing: SigningKey): Promise<void> {
  const privateKeyPem = signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await writeFile(path, JSON.stringify({ keyid: signing.key.keyID, privateKeyPem }, null, 2) + '\n', {
    mode: 0o600,
  });
}

export async function readKeyFile(path: string): Promise<SigningKey> {
  const file = KeyFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  const signing = signingKeyFrom(createPrivateKey(file.privateKeyPem));
  if (signing.key.keyID !== file.keyid) throw new Error(`key file ${path}: key id does not match its key`);
  return signing;
}

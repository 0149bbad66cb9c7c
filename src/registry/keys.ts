/**
 * The reference registry's own keys: Ed25519 to sign what it sends to kiosks (manifest entries,
 * update statuses) and X25519 to HPKE-seal pickup secrets to kiosks (auth mode) and to open update
 * submissions sealed to it. Kiosks pin both public keys at provisioning (`fleet.registrySigningKey`,
 * `fleet.registrySealingKey`). Kept in one file (PKCS#8 PEMs in JSON, 0600), made at first start.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { rawPublicKey as rawEd25519 } from '../fleet/signing.js';
import { rawPublicKey as rawX25519 } from '../store/seal.js';

export interface RegistryKeys {
  signing: KeyObject;
  sealing: KeyObject;
  /** base64 raw Ed25519 public key: what a kiosk pins as `fleet.registrySigningKey` */
  signingPublicKey: string;
  /** base64 raw X25519 public key: what a kiosk pins as `fleet.registrySealingKey` */
  sealingPublicKey: string;
}

const KeyFileSchema = z.strictObject({ signing: z.string().min(1), sealing: z.string().min(1) });

export function registryKeysOf(signing: KeyObject, sealing: KeyObject): RegistryKeys {
  return {
    signing,
    sealing,
    signingPublicKey: rawEd25519(createPublicKey(signing)).toString('base64'),
    sealingPublicKey: rawX25519(sealing).toString('base64'),
  };
}

export function loadOrCreateRegistryKeys(file: string): RegistryKeys {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }).toString();
    const content = {
      signing: pem(generateKeyPairSync('ed25519').privateKey),
      sealing: pem(generateKeyPairSync('x25519').privateKey),
    };
    writeFileSync(file, JSON.stringify(content), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  const stored = KeyFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  return registryKeysOf(createPrivateKey(stored.signing), createPrivateKey(stored.sealing));
}

/**
 * Must-show 6 of issue 12: the HPKE suite the kiosk and the registry use (src/store/hpke.ts,
 * @hpke/core) against the RFC 9180 test vector of that suite and mode (Appendix A.1.3, from the
 * CFRG test-vectors.json; source in the fixture), and the kiosk's own boxes round-trip only with
 * the pinned sender, the right recipient and the same kiosk + entry binding.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HPKE_SUITE, hpkeOpen, HpkeOpenError, hpkeSeal, manifestInfo } from '../../../src/store/hpke.js';
import { rawPublicKey } from '../../../src/store/seal.js';

interface Vector {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  skRm: string;
  skSm: string;
  skEm: string;
  pkRm: string;
  pkSm: string;
  enc: string;
  encryptions: Array<{ aad: string; ciphertext: string; plaintext: string }>;
  exports: Array<{ exportContext: string; exportLength: number; exportValue: string }>;
}

const vector = JSON.parse(
  readFileSync(
    new URL('../../fixtures/hpke/rfc9180-auth-x25519-sha256-aes128gcm.json', import.meta.url),
    'utf8',
  ),
) as Vector;
const hex = (text: string) => Buffer.from(text, 'hex');

describe('HPKE (RFC 9180) — mode_auth, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM', () => {
  it('uses the suite of the vector', () => {
    expect([vector.mode, vector.kem_id, vector.kdf_id, vector.aead_id]).toEqual([2, 0x20, 1, 1]);
    expect([HPKE_SUITE.kem.id, HPKE_SUITE.kdf.id, HPKE_SUITE.aead.id]).toEqual([0x20, 1, 1]);
  });

  it('the recipient opens the vector ciphertexts and derives its exporter values', async () => {
    const kem = HPKE_SUITE.kem;
    const recipient = await HPKE_SUITE.createRecipientContext({
      recipientKey: {
        privateKey: await kem.deserializePrivateKey(hex(vector.skRm)),
        publicKey: await kem.deserializePublicKey(hex(vector.pkRm)),
      },
      enc: hex(vector.enc),
      senderPublicKey: await kem.deserializePublicKey(hex(vector.pkSm)),
      info: hex(vector.info),
    });
    for (const encryption of vector.encryptions) {
      const plaintext = await recipient.open(hex(encryption.ciphertext), hex(encryption.aad));
      expect(Buffer.from(plaintext).toString('hex')).toBe(encryption.plaintext);
    }
    for (const exported of vector.exports) {
      const value = await recipient.export(hex(exported.exportContext), exported.exportLength);
      expect(Buffer.from(value).toString('hex')).toBe(exported.exportValue);
    }
  });

  it('the sender with the vector ephemeral key produces the vector enc and ciphertexts', async () => {
    const kem = HPKE_SUITE.kem;
    const sender = await HPKE_SUITE.createSenderContext({
      recipientPublicKey: await kem.deserializePublicKey(hex(vector.pkRm)),
      senderKey: {
        privateKey: await kem.deserializePrivateKey(hex(vector.skSm)),
        publicKey: await kem.deserializePublicKey(hex(vector.pkSm)),
      },
      ekm: {
        privateKey: await kem.deserializePrivateKey(hex(vector.skEm)),
        publicKey: await kem.deserializePublicKey(hex(vector.enc)),
      },
      info: hex(vector.info),
    });
    expect(Buffer.from(sender.enc).toString('hex')).toBe(vector.enc);
    for (const encryption of vector.encryptions) {
      const ciphertext = await sender.seal(hex(encryption.plaintext), hex(encryption.aad));
      expect(Buffer.from(ciphertext).toString('hex')).toBe(encryption.ciphertext);
    }
  });

  it('a kiosk box opens only with the pinned sender, its recipient and its kiosk + entry', async () => {
    const registry = generateKeyPairSync('x25519');
    const kiosk = generateKeyPairSync('x25519');
    const stranger = generateKeyPairSync('x25519');
    const info = manifestInfo('kiosk-0001', 'P-1');
    const box = await hpkeSeal(Buffer.from('secret'), {
      recipient: rawPublicKey(kiosk.publicKey),
      sender: registry.privateKey,
      info,
    });
    const open = (recipient = kiosk.privateKey, sender = registry.publicKey, binding = info) =>
      hpkeOpen(box, { recipient, sender: rawPublicKey(sender), info: binding });
    expect((await open()).toString()).toBe('secret');
    await expect(open(stranger.privateKey)).rejects.toThrow(HpkeOpenError);
    await expect(open(undefined, stranger.publicKey)).rejects.toThrow(HpkeOpenError);
    await expect(open(undefined, undefined, manifestInfo('kiosk-0002', 'P-1'))).rejects.toThrow(
      HpkeOpenError,
    );
    await expect(open(undefined, undefined, manifestInfo('kiosk-0001', 'P-2'))).rejects.toThrow(
      HpkeOpenError,
    );
  });
});

import { createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BadPublicKey,
  generateOpsKeyPair,
  keyIdOf,
  pinKeys,
  privateKeyFromPem,
  publicKeyFromBase64,
  SignatureRefused,
  signedBytes,
  signEnvelope,
  verifyEnvelope,
} from '../../../src/fleet/signing.js';
import { type Envelope, envelope } from '../../../src/link/messages.js';

const ops = generateOpsKeyPair();
const opsKey = privateKeyFromPem(ops.privateKeyPem);
const other = privateKeyFromPem(generateOpsKeyPair().privateKeyPem);
const pinned = pinKeys([ops.publicKey]);
const runs = Number(process.env.FUZZ_RUNS ?? 300);

const refusal = (message: Envelope): string | undefined => {
  try {
    verifyEnvelope(message, pinned);
    return undefined;
  } catch (error) {
    if (error instanceof SignatureRefused) return error.reason;
    throw error;
  }
};

const jsonBody = fc.jsonValue({ maxDepth: 3 });

describe('Ed25519 over JCS (RFC 8785) envelopes', () => {
  it('keyId is the first 16 hex of SHA-256 of the raw public key, the same from every form', () => {
    expect(ops.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(publicKeyFromBase64(ops.publicKey))).toBe(ops.keyId);
    expect(keyIdOf(createPublicKey(opsKey))).toBe(ops.keyId);
    expect(() => publicKeyFromBase64(Buffer.alloc(31).toString('base64'))).toThrow(BadPublicKey);
  });

  it('verifies what it signs, whatever the body, and the signature is 64 bytes', () => {
    fc.assert(
      fc.property(jsonBody, (body) => {
        const signed = signEnvelope(envelope('registry.ping', 'ops', {}, {}), opsKey);
        const withBody = signEnvelope({ ...signed, body, sig: undefined }, opsKey);
        expect(Buffer.from(withBody.sig ?? '', 'base64')).toHaveLength(64);
        expect(withBody.keyId).toBe(ops.keyId);
        expect(refusal(withBody)).toBeUndefined();
        // a JSON round trip (as over MQTT) with keys in another order still verifies: JCS sorts them
        const reordered = JSON.parse(
          JSON.stringify(Object.fromEntries(Object.entries(withBody).reverse())),
        ) as Envelope;
        expect(refusal(reordered)).toBeUndefined();
      }),
      { numRuns: runs },
    );
  });

  it('refuses any change to a signed envelope, or to its signature', () => {
    const signed = signEnvelope(envelope('registry.ping', 'ops', { note: 'hello' }), opsKey);
    fc.assert(
      fc.property(fc.nat(63), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const sig = Buffer.from(signed.sig ?? '', 'base64');
        sig[index] = (sig[index] ?? 0) ^ flip;
        expect(refusal({ ...signed, sig: sig.toString('base64') })).toBe('bad-signature');
      }),
      { numRuns: runs },
    );
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }).filter((note) => note !== 'hello'),
        (note) => {
          expect(refusal({ ...signed, body: { note } })).toBe('bad-signature');
        },
      ),
      { numRuns: runs },
    );
    expect(refusal({ ...signed, from: 'someone' })).toBe('bad-signature');
    expect(refusal({ ...signed, sig: 'AAAA' })).toBe('bad-signature');
  });

  it('tells unsigned and unknown keys apart', () => {
    const message = envelope('registry.ping', 'ops', {});
    expect(refusal(message)).toBe('unsigned');
    expect(refusal(signEnvelope(message, other))).toBe('unknown-key');
    const { keyId: _keyId, ...withoutKeyId } = signEnvelope(message, opsKey);
    expect(refusal(withoutKeyId)).toBe('unsigned');
  });

  it('signs the canonical JSON without sig (RFC 8785 §3.2: sorted keys, no whitespace)', () => {
    const message = {
      ...envelope('registry.ping', 'ops', { note: 'é' }, { id: 'id-123456', ts: '2026-01-01T00:00:00.000Z' }),
      sig: 'x',
    };
    expect(signedBytes(message).toString()).toBe(
      '{"body":{"note":"é"},"from":"ops","id":"id-123456","ts":"2026-01-01T00:00:00.000Z","type":"registry.ping"}',
    );
  });
});

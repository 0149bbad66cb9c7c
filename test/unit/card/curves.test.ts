import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EC_DOMAINS,
  basePointPublicKey,
  encodePoint,
  multiplyPoint,
  randomScalar,
  sharedSecretX,
  xCoordinate,
} from '../../../src/card/curves.js';
import { mapGenerator, mappedPublicKey } from '../../../src/card/pace.js';

// node:crypto (OpenSSL) against @noble/curves: the two must give the same points.
const domains = [EC_DOMAINS.brainpoolP256r1, EC_DOMAINS.p256, EC_DOMAINS.brainpoolP384r1];

describe('curve operations through node:crypto agree with @noble/curves', () => {
  it.each(domains.map((d) => [d.name, d] as const))('%s: k·G, x(k·P), k·P and SK·Ĝ', (_name, d) => {
    for (let i = 0; i < 8; i++) {
      const k = randomScalar(d, randomBytes);
      const p = d.Point.BASE.multiply(randomScalar(d, randomBytes));
      expect(basePointPublicKey(d, k).equals(encodePoint(d.Point.BASE.multiply(k)))).toBe(true);
      expect(sharedSecretX(d, k, p).equals(xCoordinate(d, p.multiply(k)))).toBe(true);
      expect(multiplyPoint(d, k, p).equals(p.multiply(k))).toBe(true);
      const nonce = randomBytes(16);
      const mapKey = randomScalar(d, randomBytes);
      const chipMap = d.Point.BASE.multiply(randomScalar(d, randomBytes));
      expect(
        mappedPublicKey(d, nonce, mapKey, chipMap, k).equals(
          mapGenerator(d, nonce, chipMap.multiply(mapKey)).multiply(k),
        ),
      ).toBe(true);
    }
  });

  it('k·P at the edges: k = 0, k = n − 1 (k + 1 wraps to 0), k = 1', () => {
    const d = EC_DOMAINS.brainpoolP256r1;
    const p = d.Point.BASE.multiply(12345n);
    expect(multiplyPoint(d, 0n, p).is0()).toBe(true);
    expect(multiplyPoint(d, d.order - 1n, p).equals(p.negate())).toBe(true);
    expect(multiplyPoint(d, 1n, p).equals(p)).toBe(true);
  });
});

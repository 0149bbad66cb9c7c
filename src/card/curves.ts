import { brainpoolP256r1, brainpoolP384r1, brainpoolP512r1 } from '@noble/curves/misc.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { type WeierstrassPoint, type WeierstrassPointCons } from '@noble/curves/abstract/weierstrass.js';
import { createECDH } from 'node:crypto';
import { LdsError } from './errors.js';

/**
 * The standardized elliptic-curve domain parameters of ICAO 9303 part 11 §9.5.1 (table 6), by
 * PACE parameterId, and by the curve OID a SubjectPublicKeyInfo names. The arithmetic is
 * @noble/curves' (audited) where a protocol needs whole points on any generator (PACE's mapping),
 * and OpenSSL's through node:crypto where plain ECDH on the standard generator is enough (key
 * pairs, shared secrets): the same result, several times cheaper. This module writes no field
 * arithmetic of its own.
 */
export type Point = WeierstrassPoint<bigint>;
export interface EcDomain {
  name: string;
  /** namedCurve OID in a SubjectPublicKeyInfo */
  oid: string;
  /** Node's name for the curve, for node:crypto keys */
  nodeName: string;
  Point: WeierstrassPointCons<bigint>;
  /** bytes of a field element (the x coordinate, the shared secret) */
  size: number;
  order: bigint;
}

function domain(name: string, oid: string, nodeName: string, Point: WeierstrassPointCons<bigint>): EcDomain {
  return { name, oid, nodeName, Point, size: Point.Fp.BYTES, order: Point.Fn.ORDER };
}

export const EC_DOMAINS = {
  p256: domain('NIST P-256', '1.2.840.10045.3.1.7', 'prime256v1', p256.Point),
  p384: domain('NIST P-384', '1.3.132.0.34', 'secp384r1', p384.Point),
  p521: domain('NIST P-521', '1.3.132.0.35', 'secp521r1', p521.Point),
  brainpoolP256r1: domain(
    'brainpoolP256r1',
    '1.3.36.3.3.2.8.1.1.7',
    'brainpoolP256r1',
    brainpoolP256r1.Point,
  ),
  brainpoolP384r1: domain(
    'brainpoolP384r1',
    '1.3.36.3.3.2.8.1.1.11',
    'brainpoolP384r1',
    brainpoolP384r1.Point,
  ),
  brainpoolP512r1: domain(
    'brainpoolP512r1',
    '1.3.36.3.3.2.8.1.1.13',
    'brainpoolP512r1',
    brainpoolP512r1.Point,
  ),
} as const;

/** Part 11 table 6: standardized domain parameter ids (the 256-bit and larger ECP groups offered). */
const BY_PARAMETER_ID: Readonly<Record<number, EcDomain>> = {
  12: EC_DOMAINS.p256,
  13: EC_DOMAINS.brainpoolP256r1,
  15: EC_DOMAINS.p384,
  16: EC_DOMAINS.brainpoolP384r1,
  17: EC_DOMAINS.brainpoolP512r1,
  18: EC_DOMAINS.p521,
};

export function domainForParameterId(parameterId: number): EcDomain | undefined {
  return BY_PARAMETER_ID[parameterId];
}

export function domainForOid(oid: string): EcDomain | undefined {
  return Object.values(EC_DOMAINS).find((d) => d.oid === oid);
}

/** Uncompressed point 04 ‖ X ‖ Y; validates that it lies on the curve and is not the identity. */
export function decodePoint(d: EcDomain, bytes: Uint8Array, what: string): Point {
  try {
    const point = d.Point.fromBytes(bytes);
    point.assertValidity();
    if (point.is0()) throw new Error('identity');
    return point;
  } catch {
    throw new LdsError(what, `not a point on ${d.name}`);
  }
}

export function encodePoint(point: Point): Buffer {
  return Buffer.from(point.toBytes(false));
}

export function xCoordinate(d: EcDomain, point: Point): Buffer {
  const x = point.toAffine().x;
  return Buffer.from(x.toString(16).padStart(d.size * 2, '0'), 'hex');
}

export function scalarFromBytes(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
}

/** A private key in [1, n-1] from the injected RNG (rejection sampling keeps it uniform). */
export function randomScalar(d: EcDomain, rng: (length: number) => Buffer): bigint {
  for (;;) {
    const k = scalarFromBytes(rng(d.size));
    if (k > 0n && k < d.order) return k;
  }
}

function scalarBytes(d: EcDomain, k: bigint): Buffer {
  return Buffer.from(k.toString(16).padStart(d.size * 2, '0'), 'hex');
}

/** An ECDH key pair (node:crypto): k·G encoded 04 ‖ X ‖ Y, and x(k·P) for any point P. */
export interface EcdhKeyPair {
  publicKey: Buffer;
  /** the x coordinate of k·P, `d.size` bytes; OpenSSL refuses a P off the curve */
  sharedX(point: Point): Buffer;
}

export function ecdhKeyPair(d: EcDomain, k: bigint): EcdhKeyPair {
  const ecdh = createECDH(d.nodeName);
  ecdh.setPrivateKey(scalarBytes(d, k));
  return {
    publicKey: ecdh.getPublicKey(),
    sharedX: (point) => {
      const x = ecdh.computeSecret(encodePoint(point));
      return x.length === d.size ? x : Buffer.concat([Buffer.alloc(d.size - x.length), x]);
    },
  };
}

/** k·G on the standard generator, encoded 04 ‖ X ‖ Y. */
export function basePointPublicKey(d: EcDomain, k: bigint): Buffer {
  return ecdhKeyPair(d, k).publicKey;
}

/** The x coordinate of k·P: the ECDH shared secret of part 11 §4.4.3.4 and §6.2. */
export function sharedSecretX(d: EcDomain, k: bigint, point: Point): Buffer {
  return ecdhKeyPair(d, k).sharedX(point);
}

/**
 * k·P as a whole point, from node:crypto's x-only ECDH: x(k·P) leaves two points (±y), and
 * x((k+1)·P) = x(k·P + P) tells which one it is. Two OpenSSL ladders cost less than one JS
 * multiplication; decompression (the square root) is @noble/curves'.
 */
export function multiplyPoint(d: EcDomain, k: bigint, point: Point): Point {
  const scalar = d.Point.Fn.create(k);
  if (scalar === 0n) return d.Point.ZERO;
  const next = d.Point.Fn.create(scalar + 1n);
  const even = d.Point.fromBytes(Buffer.concat([Buffer.from([0x02]), sharedSecretX(d, scalar, point)]));
  if (next === 0n) return point.negate();
  const nextX = sharedSecretX(d, next, point);
  const sum = even.add(point);
  return !sum.is0() && xCoordinate(d, sum).equals(nextX) ? even : even.negate();
}

import fc from 'fast-check';
import { expect } from 'vitest';

/** A streaming decoder as every device codec has one. */
export interface StreamDecoder<F> {
  push(chunk: Uint8Array): F[];
}

/** Cuts `bytes` at the given points (taken modulo its length). */
export function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const point of sorted) {
    chunks.push(bytes.subarray(last, point));
    last = point;
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

/** Decodes `bytes` split in two at every offset and expects the same frames each time. */
export function expectEverySplit<F>(
  makeDecoder: () => StreamDecoder<F>,
  bytes: Uint8Array,
  expected: F[],
): void {
  for (let at = 0; at <= bytes.length; at++) {
    const decoder = makeDecoder();
    const frames = [...decoder.push(bytes.subarray(0, at)), ...decoder.push(bytes.subarray(at))];
    expect(frames, `split at ${at}`).toEqual(expected);
  }
}

/**
 * The fuzz every codec gets (issue 4, item 3): ≥100,000 random byte streams and ≥100,000 mutated
 * valid streams (bytes flipped, inserted, deleted, garbage between frames, random chunking) never
 * throw out of the decoder; valid frames with garbage around them round-trip.
 */
export function fuzzDecoder<V, F>(options: {
  makeDecoder: () => StreamDecoder<F>;
  frame: fc.Arbitrary<V>;
  encode: (value: V) => Uint8Array;
  /** what decoding `encode(value)` must yield among the frames (errors from garbage filtered out) */
  decoded: (frames: F[]) => unknown[];
  expected: (value: V) => unknown;
  /** garbage that cannot start a frame, put between frames */
  garbage: fc.Arbitrary<Uint8Array>;
  numRuns?: number;
}): void {
  const numRuns = options.numRuns ?? 100_000;
  const feed = (chunks: Uint8Array[]) => {
    const decoder = options.makeDecoder();
    return chunks.flatMap((chunk) => decoder.push(chunk));
  };
  // 1. random bytes, randomly chunked
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (chunks) => {
      expect(Array.isArray(feed(chunks))).toBe(true);
    }),
    { numRuns },
  );
  // 2. valid frames, mutated
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
  );
  fc.assert(
    fc.property(
      fc.array(options.frame, { minLength: 1, maxLength: 3 }),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      (values, mutations, cuts) => {
        const bytes = [...Buffer.concat(values.map((v) => options.encode(v)))];
        for (const { op, at, value } of mutations) {
          const index = at % (bytes.length + 1);
          if (op === 'flip' && index < bytes.length) bytes[index] = value;
          else if (op === 'insert') bytes.splice(index, 0, value);
          else if (op === 'delete') bytes.splice(index, 1);
        }
        expect(Array.isArray(feed(cut(Uint8Array.from(bytes), cuts)))).toBe(true);
      },
    ),
    { numRuns },
  );
  // 3. valid frames with garbage between them, randomly chunked, round-trip
  fc.assert(
    fc.property(
      fc.array(fc.tuple(options.garbage, options.frame), { minLength: 1, maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      (pairs, cuts) => {
        const bytes = Buffer.concat(pairs.flatMap(([garbage, value]) => [garbage, options.encode(value)]));
        expect(options.decoded(feed(cut(bytes, cuts)))).toEqual(
          pairs.map(([, value]) => options.expected(value)),
        );
      },
    ),
    { numRuns: Math.ceil(numRuns / 5) },
  );
}

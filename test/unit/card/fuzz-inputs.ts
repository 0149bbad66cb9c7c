import fc from 'fast-check';
import { CardError } from '../../../src/card/errors.js';

/** Runs `parse` and lets only the card stack's typed errors through. */
export function typedOnly(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof CardError)) throw error;
  }
}

/** Random bytes, and valid bytes edited, cut short or extended: reaches deep into the parsers. */
export function mutationsOf(valid: Buffer): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((edits) => {
        const copy = Buffer.from(valid);
        for (const [at, value] of edits) copy[at] = value;
        return copy;
      }),
    fc.nat(valid.length).map((n) => valid.subarray(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Buffer.concat([valid, tail])),
  );
}

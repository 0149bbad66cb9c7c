import { timingSafeEqual } from 'node:crypto';

/**
 * Compares a computed MAC (or digest) with the one received in constant time (issue 12):
 * `Buffer.equals` returns at the first differing byte, which lets a caller who can time many
 * tries learn a valid MAC byte by byte. Lengths are public (fixed by the algorithm); a length
 * mismatch is simply false.
 */
export function constantTimeEquals(computed: Uint8Array, received: Uint8Array): boolean {
  return computed.length === received.length && timingSafeEqual(computed, received);
}

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SecureMessagingError } from './errors.js';

/**
 * 3DES primitives for BAC and secure messaging (ICAO 9303 part 11 §9.7.2, §9.8.6.1).
 *
 * Node 20's OpenSSL 3 keeps single DES (`des-ecb`, `des-cbc`) in the legacy provider, which is
 * not loaded by default. Single DES is therefore computed as two-key EDE with K1 = K2
 * (`des-ede-ecb` with Ka‖Ka: E(Ka, D(Ka, E(Ka, x))) = E(Ka, x)), which the default provider has.
 */
const ZERO_IV = Buffer.alloc(8);

/** 2-key 3DES-CBC with IV 0, no padding (data must already be padded). */
export function tdesEncrypt(key16: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv('des-ede-cbc', key16, ZERO_IV);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

export function tdesDecrypt(key16: Uint8Array, data: Uint8Array): Buffer {
  if (data.length % 8 !== 0) throw new SecureMessagingError('length', `cryptogram of ${data.length} bytes`);
  const decipher = createDecipheriv('des-ede-cbc', key16, ZERO_IV);
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

function ecb(key16: Uint8Array, block: Uint8Array): Buffer {
  const cipher = createCipheriv('des-ede-ecb', key16, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

/** ISO/IEC 9797-1 padding method 2: append 0x80, then zeros to a multiple of 8. */
export function pad(data: Uint8Array): Buffer {
  const padded = Buffer.alloc((Math.floor(data.length / 8) + 1) * 8);
  padded.set(data);
  padded[data.length] = 0x80;
  return padded;
}

/** Removes padding method 2; throws when it is not there (a tampered or mis-keyed cryptogram). */
export function unpad(data: Uint8Array): Buffer {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  if (i < 0 || data[i] !== 0x80 || data.length - i > 8)
    throw new SecureMessagingError('padding', 'ISO 9797-1 method 2 padding not found');
  return Buffer.from(data.subarray(0, i));
}

/**
 * ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") with DES, padding method 2 applied here:
 * single-DES CBC with Ka over every block, then D(Kb) and E(Ka) on the last (ICAO 9303 part 11 §9.8.6.1).
 */
export function retailMac(key16: Uint8Array, message: Uint8Array): Buffer {
  const ka = key16.subarray(0, 8);
  const singleKa = Buffer.concat([ka, ka]);
  const padded = pad(message);
  const last = padded.length - 8;
  // Single-DES CBC over all blocks but the last, in one cipher call: its last block is the chain.
  const chain =
    last === 0 ? Buffer.alloc(8) : tdesEncrypt(singleKa, padded.subarray(0, last)).subarray(last - 8);
  // The final step E(Ka, D(Kb, E(Ka, x))) is exactly two-key 3DES with Ka‖Kb.
  return ecb(key16, xor(chain, padded.subarray(last)));
}

export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

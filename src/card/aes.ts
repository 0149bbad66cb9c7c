import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SecureMessagingError } from './errors.js';

/**
 * AES primitives for PACE, Chip Authentication and AES secure messaging (ICAO 9303 part 11
 * §9.8.6.2; BSI TR-03110 part 3 §F.2 and §F.3). The block cipher is node:crypto's; CMAC is
 * NIST SP 800-38B (RFC 4493) built on it, because Node exposes no CMAC of its own.
 */
const BLOCK = 16;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

function aesName(key: Uint8Array, mode: 'cbc' | 'ecb'): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32)
    throw new SecureMessagingError('length', `AES key of ${key.length} bytes`);
  return `aes-${key.length * 8}-${mode}`;
}

/** AES-CBC without padding (the data is already padded). */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv(aesName(key, 'cbc'), key, iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  if (data.length % BLOCK !== 0)
    throw new SecureMessagingError('length', `AES cryptogram of ${data.length} bytes`);
  const decipher = createDecipheriv(aesName(key, 'cbc'), key, iv);
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

/** One raw AES block encryption (the SM IV is E(KSenc, SSC), part 11 §9.8.6.2). */
export function aesEncryptBlock(key: Uint8Array, block: Uint8Array): Buffer {
  return aesCbcEncrypt(key, ZERO_BLOCK, block);
}

/** Doubling in GF(2^128) with the polynomial x^128 + x^7 + x^2 + x + 1 (SP 800-38B §6.1). */
function shiftLeftXor(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((block[i]! << 1) | ((block[i + 1] ?? 0) >> 7)) & 0xff;
  if (block[0]! & 0x80) out[BLOCK - 1]! ^= 0x87;
  return out;
}

/** AES-CMAC (NIST SP 800-38B), full 16-byte tag; eMRTD MACs use its first 8 bytes. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const k1 = shiftLeftXor(aesEncryptBlock(key, ZERO_BLOCK));
  const k2 = shiftLeftXor(k1);
  const blocks = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const last = Buffer.alloc(BLOCK);
  const tail = message.subarray((blocks - 1) * BLOCK);
  last.set(tail);
  if (!complete) last[tail.length] = 0x80;
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < BLOCK; i++) last[i]! ^= subkey[i]!;
  const input = Buffer.concat([message.subarray(0, (blocks - 1) * BLOCK), last]);
  const chain = aesCbcEncrypt(key, ZERO_BLOCK, input);
  return chain.subarray(chain.length - BLOCK);
}

/** ISO/IEC 9797-1 padding method 2 to a multiple of `block` bytes. */
export function padTo(data: Uint8Array, block: number): Buffer {
  const padded = Buffer.alloc((Math.floor(data.length / block) + 1) * block);
  padded.set(data);
  padded[data.length] = 0x80;
  return padded;
}

/** Removes padding method 2 of at most `block` bytes; a missing pad is an SM error. */
export function unpadFrom(data: Uint8Array, block: number): Buffer {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  if (i < 0 || data[i] !== 0x80 || data.length - i > block)
    throw new SecureMessagingError('padding', 'ISO 9797-1 method 2 padding not found');
  return Buffer.from(data.subarray(0, i));
}

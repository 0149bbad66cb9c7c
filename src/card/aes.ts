import { type Cipher, createCipheriv, createDecipheriv } from 'node:crypto';
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
  return new AesKey(key).cmac(message);
}

/**
 * One AES key for a whole SM session: its block cipher stays open (an SM IV is one block per
 * APDU) and its CMAC subkeys are derived once, instead of per message.
 */
export class AesKey {
  private readonly ecb: Cipher;
  private readonly k1: Buffer;
  private readonly k2: Buffer;
  constructor(private readonly key: Uint8Array) {
    this.ecb = createCipheriv(aesName(key, 'ecb'), key, null);
    this.ecb.setAutoPadding(false);
    this.k1 = shiftLeftXor(this.encryptBlock(ZERO_BLOCK));
    this.k2 = shiftLeftXor(this.k1);
  }

  /** E(K, block) of one 16-byte block (ECB of a single block: no chaining state to carry). */
  encryptBlock(block: Uint8Array): Buffer {
    if (block.length !== BLOCK)
      throw new SecureMessagingError('length', `AES block of ${block.length} bytes`);
    return this.ecb.update(block);
  }

  cbcEncrypt(iv: Uint8Array, data: Uint8Array): Buffer {
    return aesCbcEncrypt(this.key, iv, data);
  }

  cbcDecrypt(iv: Uint8Array, data: Uint8Array): Buffer {
    return aesCbcDecrypt(this.key, iv, data);
  }

  /** AES-CMAC (SP 800-38B §6.2): CBC-MAC with the last block XORed with K1 (complete) or K2 (padded). */
  cmac(message: Uint8Array): Buffer {
    const blocks = Math.max(1, Math.ceil(message.length / BLOCK));
    const complete = message.length > 0 && message.length % BLOCK === 0;
    const input = Buffer.alloc(blocks * BLOCK);
    input.set(message);
    if (!complete) input[message.length] = 0x80;
    const subkey = complete ? this.k1 : this.k2;
    const lastStart = (blocks - 1) * BLOCK;
    for (let i = 0; i < BLOCK; i++) input[lastStart + i]! ^= subkey[i]!;
    const chain = aesCbcEncrypt(this.key, ZERO_BLOCK, input);
    return chain.subarray(chain.length - BLOCK);
  }
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

import { type Cipher, type Decipher, createCipheriv, createDecipheriv } from 'node:crypto';
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
 * One AES key for a whole SM session: its ciphers stay open and its CMAC subkeys are derived
 * once, instead of per message. An open CBC cipher chains on from the last block it processed;
 * CBC with a fresh IV is the same as chaining on from block C with the first plaintext block
 * XORed with C ⊕ IV (and, decrypting, the first output block XORed with C ⊕ IV), so each message
 * still gets exactly its own IV.
 */
export class AesKey {
  private readonly ecb: Cipher;
  private readonly encryptor: Cipher;
  private readonly decryptor: Decipher;
  /** the last cryptogram block each open CBC cipher chains on from */
  private encryptorChain = Buffer.alloc(BLOCK);
  private decryptorChain = Buffer.alloc(BLOCK);
  private readonly k1: Buffer;
  private readonly k2: Buffer;
  constructor(key: Uint8Array) {
    this.ecb = createCipheriv(aesName(key, 'ecb'), key, null).setAutoPadding(false);
    this.encryptor = createCipheriv(aesName(key, 'cbc'), key, ZERO_BLOCK).setAutoPadding(false);
    this.decryptor = createDecipheriv(aesName(key, 'cbc'), key, ZERO_BLOCK).setAutoPadding(false);
    this.k1 = shiftLeftXor(this.encryptBlock(ZERO_BLOCK));
    this.k2 = shiftLeftXor(this.k1);
  }

  /** E(K, block) of one 16-byte block (ECB of a single block: no chaining state to carry). */
  encryptBlock(block: Uint8Array): Buffer {
    if (block.length !== BLOCK)
      throw new SecureMessagingError('length', `AES block of ${block.length} bytes`);
    return this.ecb.update(block);
  }

  /** AES-CBC with `iv`, no padding (the data is already padded). */
  cbcEncrypt(iv: Uint8Array, data: Uint8Array): Buffer {
    blocksOnly(data);
    const input = Buffer.from(data);
    for (let i = 0; i < BLOCK; i++) input[i]! ^= iv[i]! ^ this.encryptorChain[i]!;
    const out = wholeOutput(this.encryptor.update(input), input.length);
    this.encryptorChain = Buffer.from(out.subarray(out.length - BLOCK));
    return out;
  }

  cbcDecrypt(iv: Uint8Array, data: Uint8Array): Buffer {
    blocksOnly(data);
    const out = wholeOutput(this.decryptor.update(data), data.length);
    for (let i = 0; i < BLOCK; i++) out[i]! ^= iv[i]! ^ this.decryptorChain[i]!;
    this.decryptorChain = Buffer.from(data.subarray(data.length - BLOCK));
    return out;
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
    const chain = this.cbcEncrypt(ZERO_BLOCK, input);
    return chain.subarray(chain.length - BLOCK);
  }
}

function blocksOnly(data: Uint8Array): void {
  if (data.length === 0 || data.length % BLOCK !== 0)
    throw new SecureMessagingError('length', `AES-CBC input of ${data.length} bytes`);
}

/** An open cipher without padding answers every whole block at once; anything else is a bug. */
function wholeOutput(out: Buffer, expected: number): Buffer {
  if (out.length !== expected)
    throw new SecureMessagingError('length', `AES-CBC gave ${out.length} of ${expected} bytes`);
  return out;
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

import { AesKey, padTo, unpadFrom } from './aes.js';
import { type CommandApdu, type ResponseApdu, SW_SUCCESS, decodeCommand, encodeCommand } from './apdu.js';
import { constantTimeEquals } from './compare.js';
import { retailMac, tdesDecrypt, tdesEncrypt } from './des.js';
import { LdsError, SecureMessagingError } from './errors.js';
import { decodeTlvList, encodeTlv } from './tlv.js';

/** The SM cipher suite: 3DES + retail MAC (BAC, PACE-3DES) or AES + CMAC (PACE/CA-AES). */
export type SmCipherName = '3des' | 'aes';

/** Session keys and send sequence counter established by BAC, PACE or CA (ICAO 9303 part 11 §9.8). */
export interface SessionKeys {
  ksEnc: Buffer;
  ksMac: Buffer;
  /** send sequence counter (8 bytes for 3DES, 16 for AES), as an unsigned big-endian integer */
  ssc: bigint;
  /** '3des' when absent (BAC) */
  cipher?: SmCipherName;
}

/**
 * What differs between the two SM suites (part 11 §9.8.6): block size, SSC width, the IV
 * (zero for 3DES, E(KSenc, SSC) for AES) and the MAC (retail MAC vs CMAC truncated to 8 bytes).
 */
export interface SmCipher {
  readonly name: SmCipherName;
  readonly blockSize: number;
  sscBytes(ssc: bigint): Buffer;
  encrypt(ssc: Buffer, padded: Uint8Array): Buffer;
  decrypt(ssc: Buffer, cryptogram: Uint8Array): Buffer;
  /** MAC over `message`, which this function pads (method 2) to the block size */
  mac(message: Uint8Array): Buffer;
}

export function smCipher(keys: SessionKeys): SmCipher {
  const { ksEnc, ksMac } = keys;
  if (keys.cipher === 'aes') {
    // The keys live as long as the session: open their ciphers once, not per APDU.
    const enc = new AesKey(ksEnc);
    const mac = new AesKey(ksMac);
    return {
      name: 'aes',
      blockSize: 16,
      sscBytes: (ssc) => {
        const out = Buffer.alloc(16);
        out.writeBigUInt64BE(BigInt.asUintN(64, ssc >> 64n), 0);
        out.writeBigUInt64BE(BigInt.asUintN(64, ssc), 8);
        return out;
      },
      encrypt: (ssc, padded) => enc.cbcEncrypt(enc.encryptBlock(ssc), padded),
      decrypt: (ssc, cryptogram) => enc.cbcDecrypt(enc.encryptBlock(ssc), cryptogram),
      mac: (message) => mac.cmac(padTo(message, 16)).subarray(0, 8),
    };
  }
  return {
    name: '3des',
    blockSize: 8,
    sscBytes,
    encrypt: (_ssc, padded) => tdesEncrypt(ksEnc, padded),
    decrypt: (_ssc, cryptogram) => tdesDecrypt(ksEnc, cryptogram),
    mac: (message) => retailMac(ksMac, message),
  };
}

/** Constant-time MAC comparison (a MAC check must not leak how many bytes matched). */
export const macEquals = constantTimeEquals;

const DO_CRYPTOGRAM = 0x87;
const DO_LE = 0x97;
const DO_STATUS = 0x99;
const DO_MAC = 0x8e;

export function sscBytes(ssc: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt.asUintN(64, ssc));
  return out;
}

function encodeLe(le: number, extended: boolean): Buffer {
  if (!extended) return Buffer.from([le === 256 ? 0 : le]);
  const value = le === 65536 ? 0 : le;
  return Buffer.from([value >> 8, value & 0xff]);
}

function parseDataObjects(data: Uint8Array, side: string): Map<number, Buffer> {
  const objects = new Map<number, Buffer>();
  let list;
  try {
    list = decodeTlvList(data, side);
  } catch (error) {
    if (error instanceof LdsError) throw new SecureMessagingError('structure', `${side}: ${error.message}`);
    throw error;
  }
  for (const tlv of list) {
    if (objects.has(tlv.tag))
      throw new SecureMessagingError('structure', `${side}: duplicate DO'${tlv.tag.toString(16)}'`);
    objects.set(tlv.tag, tlv.value);
  }
  return objects;
}

function decryptDo87(value: Buffer, cipher: SmCipher, ssc: Buffer): Buffer {
  // DO'87' = padding-content indicator 01 ‖ cryptogram (ICAO 9303 part 11 §9.8.4).
  const block = cipher.blockSize;
  if (value.length < block + 1 || value[0] !== 0x01 || (value.length - 1) % block !== 0)
    throw new SecureMessagingError('structure', `DO'87' of ${value.length} bytes`);
  return unpadFrom(cipher.decrypt(ssc, value.subarray(1)), block);
}

/**
 * One secure-messaging session (ICAO 9303 part 11 §9.8): 3DES / retail MAC (BAC) or AES / CMAC
 * (PACE, CA).
 * The terminal uses `wrapCommand` / `unwrapResponse`; the chip emulator uses `unwrapCommand` /
 * `wrapResponse` with its own instance. Each call increments the SSC first, as both sides must.
 */
export class SecureMessaging {
  private sscValue: bigint;
  private readonly cipher: SmCipher;
  constructor(keys: SessionKeys) {
    this.sscValue = keys.ssc;
    this.cipher = smCipher(keys);
  }

  get cipherName(): SmCipherName {
    return this.cipher.name;
  }

  get ssc(): bigint {
    return this.sscValue;
  }

  private nextSsc(): Buffer {
    this.sscValue = BigInt.asUintN(this.cipher.blockSize * 8, this.sscValue + 1n);
    return this.cipher.sscBytes(this.sscValue);
  }

  /** Protects a command: DO'87' (encrypted data), DO'97' (Le), DO'8E' (MAC) — §9.8.4. */
  wrapCommand(command: CommandApdu): Buffer {
    const ssc = this.nextSsc();
    const cla = command.cla | 0x0c;
    const header = padTo(Buffer.from([cla, command.ins, command.p1, command.p2]), this.cipher.blockSize);
    const extendedLe = (command.le ?? 0) > 256;
    const do87 =
      command.data && command.data.length > 0
        ? encodeTlv(
            DO_CRYPTOGRAM,
            Buffer.from([0x01]),
            this.cipher.encrypt(ssc, padTo(command.data, this.cipher.blockSize)),
          )
        : Buffer.alloc(0);
    const do97 =
      command.le !== undefined ? encodeTlv(DO_LE, encodeLe(command.le, extendedLe)) : Buffer.alloc(0);
    const mac = this.cipher.mac(Buffer.concat([ssc, header, do87, do97]));
    const body = Buffer.concat([do87, do97, encodeTlv(DO_MAC, mac)]);
    const extended = extendedLe || body.length > 255;
    return encodeCommand({
      cla,
      ins: command.ins,
      p1: command.p1,
      p2: command.p2,
      data: body,
      le: extended ? 65536 : 256,
    });
  }

  /**
   * Verifies and decrypts a protected response (§9.8.5). The MAC over SSC ‖ DO'87' ‖ DO'99' is
   * always checked. A bare error status without data objects (the chip ending SM, e.g. 6987/6988)
   * is returned as is: it carries no data to trust.
   */
  unwrapResponse(response: ResponseApdu): ResponseApdu {
    const ssc = this.nextSsc();
    if (response.data.length === 0 && response.sw !== SW_SUCCESS) return response;
    const objects = parseDataObjects(response.data, 'response');
    const mac = objects.get(DO_MAC);
    if (!mac) throw new SecureMessagingError('missing-mac', "response has no DO'8E'");
    const status = objects.get(DO_STATUS);
    if (!status || status.length !== 2)
      throw new SecureMessagingError('missing-status', "response has no DO'99'");
    const do87 = objects.get(DO_CRYPTOGRAM);
    const macInput = Buffer.concat([
      ssc,
      do87 ? encodeTlv(DO_CRYPTOGRAM, do87) : Buffer.alloc(0),
      encodeTlv(DO_STATUS, status),
    ]);
    if (!macEquals(this.cipher.mac(macInput), mac))
      throw new SecureMessagingError('mac', 'response MAC does not verify');
    const sw = status.readUInt16BE(0);
    if (sw !== response.sw)
      throw new SecureMessagingError('status-mismatch', "DO'99' differs from the plain status word");
    return { data: do87 ? decryptDo87(do87, this.cipher, ssc) : Buffer.alloc(0), sw };
  }

  /** Chip side: verifies and opens a protected command (MAC first, then decryption). */
  unwrapCommand(protectedCommand: Uint8Array): CommandApdu {
    const ssc = this.nextSsc();
    const apdu = decodeCommand(protectedCommand);
    if ((apdu.cla & 0x0c) !== 0x0c)
      throw new SecureMessagingError('structure', 'command is not SM-protected');
    const objects = parseDataObjects(apdu.data ?? Buffer.alloc(0), 'command');
    const mac = objects.get(DO_MAC);
    if (!mac) throw new SecureMessagingError('missing-mac', "command has no DO'8E'");
    const do87 = objects.get(DO_CRYPTOGRAM);
    const do97 = objects.get(DO_LE);
    const header = padTo(Buffer.from([apdu.cla, apdu.ins, apdu.p1, apdu.p2]), this.cipher.blockSize);
    const macInput = Buffer.concat([
      ssc,
      header,
      do87 ? encodeTlv(DO_CRYPTOGRAM, do87) : Buffer.alloc(0),
      do97 ? encodeTlv(DO_LE, do97) : Buffer.alloc(0),
    ]);
    if (!macEquals(this.cipher.mac(macInput), mac))
      throw new SecureMessagingError('mac', 'command MAC does not verify');
    const plain: CommandApdu = { cla: apdu.cla & ~0x0c, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2 };
    if (do87) plain.data = decryptDo87(do87, this.cipher, ssc);
    if (do97) {
      if (do97.length === 1) plain.le = do97[0] || 256;
      else if (do97.length === 2) plain.le = do97.readUInt16BE(0) || 65536;
      else throw new SecureMessagingError('structure', `DO'97' of ${do97.length} bytes`);
    }
    return plain;
  }

  /** Chip side: protects a response with DO'87', DO'99' and DO'8E'. */
  wrapResponse(response: { data?: Uint8Array; sw: number }): Buffer {
    const ssc = this.nextSsc();
    const do87 =
      response.data && response.data.length > 0
        ? encodeTlv(
            DO_CRYPTOGRAM,
            Buffer.from([0x01]),
            this.cipher.encrypt(ssc, padTo(response.data, this.cipher.blockSize)),
          )
        : Buffer.alloc(0);
    const do99 = encodeTlv(DO_STATUS, Buffer.from([response.sw >> 8, response.sw & 0xff]));
    const mac = this.cipher.mac(Buffer.concat([ssc, do87, do99]));
    return Buffer.concat([
      do87,
      do99,
      encodeTlv(DO_MAC, mac),
      Buffer.from([response.sw >> 8, response.sw & 0xff]),
    ]);
  }
}

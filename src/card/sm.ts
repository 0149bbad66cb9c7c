import { type CommandApdu, type ResponseApdu, SW_SUCCESS, decodeCommand, encodeCommand } from './apdu.js';
import { constantTimeEquals } from './compare.js';
import { pad, retailMac, tdesDecrypt, tdesEncrypt, unpad } from './des.js';
import { LdsError, SecureMessagingError } from './errors.js';
import { decodeTlvList, encodeTlv } from './tlv.js';

/** Session keys and send sequence counter established by BAC (ICAO 9303 part 11 §9.7.4, §9.8). */
export interface SessionKeys {
  ksEnc: Buffer;
  ksMac: Buffer;
  /** 8-byte send sequence counter, as an unsigned big-endian integer */
  ssc: bigint;
}

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

function decryptDo87(value: Buffer, ksEnc: Buffer): Buffer {
  // DO'87' = padding-content indicator 01 ‖ cryptogram (ICAO 9303 part 11 §9.8.4).
  if (value.length < 9 || value[0] !== 0x01 || (value.length - 1) % 8 !== 0)
    throw new SecureMessagingError('structure', `DO'87' of ${value.length} bytes`);
  return unpad(tdesDecrypt(ksEnc, value.subarray(1)));
}

/**
 * One secure-messaging session (ICAO 9303 part 11 §9.8, 3DES / retail MAC as established by BAC).
 * The terminal uses `wrapCommand` / `unwrapResponse`; the chip emulator uses `unwrapCommand` /
 * `wrapResponse` with its own instance. Each call increments the SSC first, as both sides must.
 */
export class SecureMessaging {
  private sscValue: bigint;
  constructor(private readonly keys: SessionKeys) {
    this.sscValue = keys.ssc;
  }

  get ssc(): bigint {
    return this.sscValue;
  }

  private nextSsc(): Buffer {
    this.sscValue = BigInt.asUintN(64, this.sscValue + 1n);
    return sscBytes(this.sscValue);
  }

  /** Protects a command: DO'87' (encrypted data), DO'97' (Le), DO'8E' (MAC) — §9.8.4. */
  wrapCommand(command: CommandApdu): Buffer {
    const ssc = this.nextSsc();
    const cla = command.cla | 0x0c;
    const header = pad(Buffer.from([cla, command.ins, command.p1, command.p2]));
    const extendedLe = (command.le ?? 0) > 256;
    const do87 =
      command.data && command.data.length > 0
        ? encodeTlv(DO_CRYPTOGRAM, Buffer.from([0x01]), tdesEncrypt(this.keys.ksEnc, pad(command.data)))
        : Buffer.alloc(0);
    const do97 =
      command.le !== undefined ? encodeTlv(DO_LE, encodeLe(command.le, extendedLe)) : Buffer.alloc(0);
    const mac = retailMac(this.keys.ksMac, Buffer.concat([ssc, header, do87, do97]));
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
    const expected = retailMac(this.keys.ksMac, macInput);
    if (!constantTimeEquals(expected, mac))
      throw new SecureMessagingError('mac', 'response MAC does not verify');
    const sw = status.readUInt16BE(0);
    if (sw !== response.sw)
      throw new SecureMessagingError('status-mismatch', "DO'99' differs from the plain status word");
    return { data: do87 ? decryptDo87(do87, this.keys.ksEnc) : Buffer.alloc(0), sw };
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
    const header = pad(Buffer.from([apdu.cla, apdu.ins, apdu.p1, apdu.p2]));
    const macInput = Buffer.concat([
      ssc,
      header,
      do87 ? encodeTlv(DO_CRYPTOGRAM, do87) : Buffer.alloc(0),
      do97 ? encodeTlv(DO_LE, do97) : Buffer.alloc(0),
    ]);
    if (!constantTimeEquals(retailMac(this.keys.ksMac, macInput), mac))
      throw new SecureMessagingError('mac', 'command MAC does not verify');
    const plain: CommandApdu = { cla: apdu.cla & ~0x0c, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2 };
    if (do87) plain.data = decryptDo87(do87, this.keys.ksEnc);
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
        ? encodeTlv(DO_CRYPTOGRAM, Buffer.from([0x01]), tdesEncrypt(this.keys.ksEnc, pad(response.data)))
        : Buffer.alloc(0);
    const do99 = encodeTlv(DO_STATUS, Buffer.from([response.sw >> 8, response.sw & 0xff]));
    const mac = retailMac(this.keys.ksMac, Buffer.concat([ssc, do87, do99]));
    return Buffer.concat([
      do87,
      do99,
      encodeTlv(DO_MAC, mac),
      Buffer.from([response.sw >> 8, response.sw & 0xff]),
    ]);
  }
}

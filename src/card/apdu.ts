import { ApduError } from './errors.js';

/**
 * ISO/IEC 7816-4 §5.1 command APDU. `le` is the number of bytes expected: undefined = no Le
 * field; 256 (short) or 65536 (extended) encode as 00 / 0000 ("as many as available").
 */
export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data?: Uint8Array;
  le?: number;
}

export interface ResponseApdu {
  data: Buffer;
  sw: number;
}

/** Status words the reader names (ISO 7816-4 §5.6, ICAO 9303 part 11 §9.8.6). */
export const STATUS_WORDS: Readonly<Record<number, string>> = {
  0x9000: 'success',
  0x6282: 'end of file reached before Le bytes',
  0x6300: 'authentication failed',
  0x6700: 'wrong length',
  0x6882: 'secure messaging not supported',
  0x6982: 'security status not satisfied',
  0x6983: 'authentication method blocked',
  0x6984: 'reference data not usable',
  0x6985: 'conditions of use not satisfied',
  0x6986: 'command not allowed (no current EF)',
  0x6987: 'expected secure messaging data objects missing',
  0x6988: 'incorrect secure messaging data objects',
  0x6a80: 'incorrect parameters in the data field',
  0x6a82: 'file or application not found',
  0x6a86: 'incorrect parameters P1-P2',
  0x6b00: 'wrong parameters (offset outside the EF)',
  0x6d00: 'instruction not supported',
  0x6e00: 'class not supported',
  0x6f00: 'no precise diagnosis',
};

export const SW_SUCCESS = 0x9000;

export function statusWordName(sw: number): string {
  const exact = STATUS_WORDS[sw];
  if (exact !== undefined) return exact;
  if (sw >> 8 === 0x61) return `${sw & 0xff} more bytes available`;
  if (sw >> 8 === 0x6c) return `wrong Le, exact length is ${sw & 0xff || 256}`;
  return 'unknown status';
}

/** A command needs extended length (ISO 7816-4 §5.1) when Lc > 255 or Le > 256. */
export function needsExtendedLength(command: CommandApdu): boolean {
  return (command.data?.length ?? 0) > 255 || (command.le ?? 0) > 256;
}

export function encodeCommand(command: CommandApdu): Buffer {
  const { cla, ins, p1, p2, le } = command;
  const data = command.data ?? new Uint8Array(0);
  if (data.length > 65535) throw new ApduError(`command data of ${data.length} bytes`, 'encode');
  if (le !== undefined && (le < 1 || le > 65536)) throw new ApduError(`Le ${le} out of range`, 'encode');
  const extended = needsExtendedLength(command);
  const parts: number[] = [cla, ins, p1, p2];
  if (data.length > 0) {
    if (extended) parts.push(0, data.length >> 8, data.length & 0xff);
    else parts.push(data.length);
  }
  const header = Buffer.from(parts);
  let leBytes: number[] = [];
  if (le !== undefined) {
    if (extended) {
      const value = le === 65536 ? 0 : le;
      leBytes = data.length > 0 ? [value >> 8, value & 0xff] : [0, value >> 8, value & 0xff];
    } else {
      leBytes = [le === 256 ? 0 : le];
    }
  }
  return Buffer.concat([header, data, Buffer.from(leBytes)]);
}

/** Decodes a command APDU (cases 1–4, short and extended; ISO 7816-4 §5.1). Used chip-side. */
export function decodeCommand(bytes: Uint8Array): CommandApdu {
  const b = Buffer.from(bytes);
  if (b.length < 4) throw new ApduError(`command of ${b.length} bytes`, 'decode-command');
  const [cla, ins, p1, p2] = [b[0]!, b[1]!, b[2]!, b[3]!];
  const body = b.subarray(4);
  if (body.length === 0) return { cla, ins, p1, p2 };
  if (body.length === 1) return { cla, ins, p1, p2, le: body[0] || 256 };
  if (body[0] !== 0) {
    const lc = body[0]!;
    if (body.length === 1 + lc) return { cla, ins, p1, p2, data: body.subarray(1, 1 + lc) };
    if (body.length === 2 + lc)
      return { cla, ins, p1, p2, data: body.subarray(1, 1 + lc), le: body[1 + lc] || 256 };
    throw new ApduError(`short command body of ${body.length} bytes with Lc ${lc}`, 'decode-command');
  }
  if (body.length === 3) return { cla, ins, p1, p2, le: body.readUInt16BE(1) || 65536 };
  if (body.length < 3) throw new ApduError('truncated extended length', 'decode-command');
  const lc = body.readUInt16BE(1);
  if (lc === 0) throw new ApduError('extended Lc of zero', 'decode-command');
  const data = body.subarray(3, 3 + lc);
  if (body.length === 3 + lc) return { cla, ins, p1, p2, data };
  if (body.length === 5 + lc) return { cla, ins, p1, p2, data, le: body.readUInt16BE(3 + lc) || 65536 };
  throw new ApduError(`extended command body of ${body.length} bytes with Lc ${lc}`, 'decode-command');
}

/** Splits a response APDU into data and status word (ISO 7816-4 §5.2). */
export function decodeResponse(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2)
    throw new ApduError(`response of ${bytes.length} bytes, no status word`, 'decode-response');
  const b = Buffer.from(bytes);
  return { data: b.subarray(0, b.length - 2), sw: b.readUInt16BE(b.length - 2) };
}

export function encodeResponse(response: { data?: Uint8Array; sw: number }): Buffer {
  return Buffer.concat([
    response.data ?? new Uint8Array(0),
    Buffer.from([response.sw >> 8, response.sw & 0xff]),
  ]);
}

/** Something that sends a plain or protected command and returns its (unprotected) response. */
export interface ApduChannel {
  send(command: CommandApdu): Promise<ResponseApdu>;
}

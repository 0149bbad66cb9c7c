import { LdsError } from './errors.js';

/** One BER-TLV element (ISO/IEC 8825-1; ICAO 9303 part 10 §4.1). `tag` holds all tag bytes. */
export interface Tlv {
  tag: number;
  value: Buffer;
  /** total encoded length of this element, header included */
  length: number;
}

/** Reads a tag at `offset`; returns the tag as a number (up to 3 bytes) and the header length. */
function readTag(b: Buffer, offset: number, file: string): [tag: number, next: number] {
  if (offset >= b.length) throw new LdsError(file, 'truncated TLV: tag missing');
  let tag = b[offset]!;
  let i = offset + 1;
  if ((tag & 0x1f) === 0x1f) {
    let more = true;
    while (more) {
      if (i >= b.length) throw new LdsError(file, 'truncated TLV: multi-byte tag');
      if (i - offset >= 3) throw new LdsError(file, 'TLV tag longer than 3 bytes');
      const byte = b[i++]!;
      tag = (tag << 8) | byte;
      more = (byte & 0x80) !== 0;
    }
  }
  return [tag, i];
}

function readLength(b: Buffer, offset: number, file: string): [length: number, next: number] {
  if (offset >= b.length) throw new LdsError(file, 'truncated TLV: length missing');
  const first = b[offset]!;
  if (first < 0x80) return [first, offset + 1];
  const count = first & 0x7f;
  if (count === 0) throw new LdsError(file, 'indefinite TLV length is not allowed in DER');
  if (count > 3) throw new LdsError(file, `TLV length of ${count} bytes`);
  if (offset + 1 + count > b.length) throw new LdsError(file, 'truncated TLV: long-form length');
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + b[offset + 1 + i]!;
  return [length, offset + 1 + count];
}

/** Decodes the TLV element starting at `offset`. Throws `LdsError` when truncated or malformed. */
export function decodeTlv(bytes: Uint8Array, offset = 0, file = 'TLV'): Tlv {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const [tag, afterTag] = readTag(b, offset, file);
  const [length, afterLength] = readLength(b, afterTag, file);
  const end = afterLength + length;
  if (end > b.length)
    throw new LdsError(
      file,
      `truncated TLV: tag ${tag.toString(16)} needs ${length} bytes, ${b.length - afterLength} left`,
    );
  return { tag, value: b.subarray(afterLength, end), length: end - offset };
}

/** Decodes a concatenation of TLV elements filling `bytes` exactly. */
export function decodeTlvList(bytes: Uint8Array, file = 'TLV'): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const tlv = decodeTlv(bytes, offset, file);
    out.push(tlv);
    offset += tlv.length;
  }
  return out;
}

/** Finds the first child with `tag` among the elements of `bytes`; throws when it is absent. */
export function requireChild(bytes: Uint8Array, tag: number, file: string): Buffer {
  const found = decodeTlvList(bytes, file).find((t) => t.tag === tag);
  if (!found) throw new LdsError(file, `tag ${tag.toString(16).toUpperCase()} missing`);
  return found.value;
}

export function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  if (length < 0x10000) return Buffer.from([0x82, length >> 8, length & 0xff]);
  return Buffer.from([0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]);
}

export function encodeTag(tag: number): Buffer {
  if (tag > 0xffff) return Buffer.from([tag >> 16, (tag >> 8) & 0xff, tag & 0xff]);
  if (tag > 0xff) return Buffer.from([tag >> 8, tag & 0xff]);
  return Buffer.from([tag]);
}

export function encodeTlv(tag: number, ...values: Uint8Array[]): Buffer {
  const value = Buffer.concat(values);
  return Buffer.concat([encodeTag(tag), encodeLength(value.length), value]);
}

/** Number of bytes of the header (tag + length) of the element at the start of `bytes`. */
export function tlvHeaderLength(bytes: Uint8Array, file = 'TLV'): { header: number; total: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const [, afterTag] = readTag(b, 0, file);
  const [length, afterLength] = readLength(b, afterTag, file);
  return { header: afterLength, total: afterLength + length };
}

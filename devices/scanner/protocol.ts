/**
 * QR / barcode scanner wire format, as sent by USB-CDC scanners in their "serial, CR suffix"
 * mode: one scan = the decoded payload bytes (UTF-8) followed by CR (0x0D). Some scanners send
 * CR LF; a LF right after a CR is therefore ignored. Pure codec: no I/O, no clock.
 */

export const CR = 0x0d;
export const LF = 0x0a;
/** Longest scan we accept: a QR version 40 holds at most 2,953 bytes in binary mode. */
export const MAX_SCAN_BYTES = 3000;

export type ScanFrame = { kind: 'scan'; text: string } | { kind: 'error'; error: ScanDecodeError };

export class ScanDecodeError extends Error {
  override readonly name = 'ScanDecodeError';
  constructor(
    readonly reason: 'overlong' | 'invalid-utf8' | 'control-characters' | 'empty',
    readonly length: number,
  ) {
    super(`scanner frame rejected: ${reason} (${length} bytes)`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a byte stream into scans wherever the chunks are cut. An overlong scan is dropped up to
 * its terminating CR (resynchronising on the next one) and reported as an error frame.
 */
export class ScanDecoder {
  private buffer: number[] = [];
  private overflowed = 0;
  private lastWasCr = false;

  push(chunk: Uint8Array): ScanFrame[] {
    const frames: ScanFrame[] = [];
    for (const byte of chunk) {
      if (byte === LF && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = byte === CR;
      if (byte === CR) {
        const frame = this.finish();
        if (frame) frames.push(frame);
        continue;
      }
      if (this.overflowed > 0) {
        this.overflowed++;
      } else if (this.buffer.length >= MAX_SCAN_BYTES) {
        this.overflowed = this.buffer.length + 1;
        this.buffer = [];
      } else {
        this.buffer.push(byte);
      }
    }
    return frames;
  }

  private finish(): ScanFrame | undefined {
    if (this.overflowed > 0) {
      const length = this.overflowed;
      this.overflowed = 0;
      return { kind: 'error', error: new ScanDecodeError('overlong', length) };
    }
    const bytes = Uint8Array.from(this.buffer);
    this.buffer = [];
    if (bytes.length === 0) return undefined; // blank lines between scans are noise, not errors
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return { kind: 'error', error: new ScanDecodeError('invalid-utf8', bytes.length) };
    }
    // C0 controls other than TAB have no place in a payload we accept.
    if (hasControlCharacters(text)) {
      return { kind: 'error', error: new ScanDecodeError('control-characters', bytes.length) };
    }
    return { kind: 'scan', text };
  }
}

function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

/** The scanner's side: one scan as bytes on the wire. */
export function encodeScan(text: string): Buffer {
  if (text.includes('\r')) throw new RangeError('a scan cannot contain CR: it terminates the frame');
  const bytes = Buffer.from(`${text}\r`, 'utf8');
  if (bytes.length - 1 > MAX_SCAN_BYTES) throw new RangeError(`a scan is at most ${MAX_SCAN_BYTES} bytes`);
  return bytes;
}

/**
 * The wire of vsmartcard's `vpcd` socket (vsmartcard/virtualsmartcard `vpcd/vpcd.c`), which puts a
 * virtual card behind pcscd: each frame is a 2-byte big-endian length and that many bytes; a
 * 1-byte payload is a control message (`VPCD_CTRL_*` below), any longer payload is a command APDU,
 * answered by one frame with the response APDU (or the ATR for GET ATR).
 *
 * The decoder is pure (no I/O, no clock) and does not care where chunks split.
 */
export const VPCD_CTRL_OFF = 0x00;
export const VPCD_CTRL_ON = 0x01;
export const VPCD_CTRL_RESET = 0x02;
export const VPCD_CTRL_ATR = 0x04;
/** vpcd's default TCP port (vpcd.h VPCD_PORT, 0x8C7B). */
export const VPCD_DEFAULT_PORT = 35963;

/** Largest frame accepted: an extended APDU (65 535 data + 7 header/Le bytes) or response (65 536 + 2). */
export const MAX_FRAME = 65538;

export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(readonly length: number) {
    super(`frame length ${length} is outside 1..${MAX_FRAME}`);
  }
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length === 0 || payload.length > MAX_FRAME) throw new FrameError(payload.length);
  const header = Buffer.alloc(2);
  header.writeUInt16BE(payload.length & 0xffff);
  if (payload.length > 0xffff) throw new FrameError(payload.length);
  return Buffer.concat([header, payload]);
}

/** Streaming decoder: push chunks, get whole frames. A zero length is refused (it cannot resync). */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): Buffer[] {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const frames: Buffer[] = [];
    while (this.buffer.length >= 2) {
      const length = this.buffer.readUInt16BE(0);
      if (length === 0) {
        this.buffer = Buffer.alloc(0);
        throw new FrameError(0);
      }
      if (this.buffer.length < 2 + length) break;
      frames.push(Buffer.from(this.buffer.subarray(2, 2 + length)));
      this.buffer = this.buffer.subarray(2 + length);
    }
    return frames;
  }

  /** bytes received that do not yet make a frame */
  get pending(): number {
    return this.buffer.length;
  }
}

/** An ATR for a contactless eMRTD behind a reader: T=0 then T=1 offered, no historical bytes, TCK. */
export const EMULATED_ATR = Buffer.from('3B80800101', 'hex');

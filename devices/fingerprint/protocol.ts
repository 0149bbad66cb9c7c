/**
 * R30x / ZFM-family fingerprint sensor packets (R307/R503/ZFM-20 user manuals, "Communication
 * protocol"): `EF 01 | address(4) | PID(1) | length(2) | payload | checksum(2)`, big-endian.
 * `length` counts payload + checksum; the checksum is the 16-bit sum of PID, the two length bytes
 * and the payload. PIDs: 0x01 command, 0x02 data (more follows), 0x07 acknowledge, 0x08 end of
 * data. Pure codec: no I/O, no clock.
 */

export const HEADER = 0xef01;
export const DEFAULT_ADDRESS = 0xffffffff;
/** Longest payload the manual allows in one packet (data packets are at most 256 bytes). */
export const MAX_PAYLOAD = 256;
/** A character file / template of the R30x family is 512 bytes (2 × 256). */
export const TEMPLATE_BYTES = 512;

export const PID = { command: 0x01, data: 0x02, ack: 0x07, endData: 0x08 } as const;
export type PacketId = (typeof PID)[keyof typeof PID];

/**
 * Instruction codes. The R30x/ZFM/AS608 set is the "Instruction table" of the R307/R503 and
 * ZhianTec ZFM user manuals (§5 "Module Instruction System"); 0x28 onwards are the R503's additions
 * (R503 user manual Ver 1.2.2, §"Instruction Table"). Each instruction's command and acknowledge
 * formats are in the emulator, next to its handler.
 */
export const INSTRUCTION = {
  genImg: 0x01,
  img2Tz: 0x02,
  match: 0x03,
  search: 0x04,
  regModel: 0x05,
  store: 0x06,
  loadChar: 0x07,
  upChar: 0x08,
  downChar: 0x09,
  upImage: 0x0a,
  downImage: 0x0b,
  deleteChar: 0x0c,
  empty: 0x0d,
  setSysPara: 0x0e,
  readSysPara: 0x0f,
  setPwd: 0x12,
  vfyPwd: 0x13,
  getRandomCode: 0x14,
  setAdder: 0x15,
  control: 0x17,
  writeNotepad: 0x18,
  readNotepad: 0x19,
  highSpeedSearch: 0x1b,
  genBinImage: 0x1c,
  templeteNum: 0x1d,
  readIndexTable: 0x1f,
  getImageEx: 0x28,
  cancel: 0x30,
  autoEnroll: 0x31,
  autoIdentify: 0x32,
  auraLedConfig: 0x35,
  checkSensor: 0x36,
  handShake: 0x40,
} as const;

/**
 * Confirmation codes (R503 user manual §"Confirmation code"; 0x00–0x1D are the same in the
 * R307 and ZFM manuals) with text for people.
 */
export const CONFIRMATION: Record<number, string> = {
  0x00: 'ok',
  0x01: 'packet receive error',
  0x02: 'no finger on the sensor',
  0x03: 'failed to enroll the finger',
  0x06: 'image too disorderly to generate a character file',
  0x07: 'too few feature points to generate a character file',
  0x08: 'finger does not match',
  0x09: 'no matching finger in the library',
  0x0a: 'failed to combine the character files',
  0x0b: 'page id beyond the library',
  0x0c: 'error reading the template from the library, or the template is invalid',
  0x0d: 'error uploading the template',
  0x0e: 'cannot receive the following data packets',
  0x0f: 'error uploading the image',
  0x10: 'failed to delete the template',
  0x11: 'failed to clear the library',
  0x13: 'wrong password',
  0x15: 'no valid primary image',
  0x18: 'error writing flash',
  0x19: 'undefined error',
  0x1a: 'invalid register number',
  0x1b: 'incorrect register configuration',
  0x1c: 'wrong notepad page number',
  0x1d: 'failed to operate the communication port',
  0x1f: 'fingerprint library is full',
  0x20: 'address code incorrect',
  0x21: 'password must be verified',
  // The R503 manual's English says "empty"; AutoEnroll answers it for a taken location.
  0x22: 'fingerprint template is empty',
  0x24: 'fingerprint library is empty',
  0x26: 'timeout',
  0x27: 'fingerprint already exists',
  0x29: 'sensor hardware error',
  0xfc: 'unsupported command',
  0xfd: 'hardware error',
  0xfe: 'command execution failure',
};
export const CODE = {
  ok: 0x00,
  receiveError: 0x01,
  noFinger: 0x02,
  enrollFailed: 0x03,
  disorderly: 0x06,
  tooFewPoints: 0x07,
  noMatch: 0x08,
  notFound: 0x09,
  combineFailed: 0x0a,
  badPage: 0x0b,
  badTemplate: 0x0c,
  uploadFailed: 0x0d,
  cannotReceive: 0x0e,
  imageUploadFailed: 0x0f,
  deleteFailed: 0x10,
  clearFailed: 0x11,
  wrongPassword: 0x13,
  noImage: 0x15,
  flashError: 0x18,
  badRegister: 0x1a,
  badRegisterValue: 0x1b,
  badNotepadPage: 0x1c,
  portError: 0x1d,
  passwordRequired: 0x21,
  templateSlot: 0x22,
  libraryEmpty: 0x24,
  timeout: 0x26,
  alreadyExists: 0x27,
  /** R503 manual: what the module answers to an instruction code it does not know */
  unsupported: 0xfc,
} as const;

export interface Packet {
  address: number;
  pid: number;
  payload: Buffer;
}

export type FingerprintFrame =
  { kind: 'packet'; packet: Packet } | { kind: 'error'; error: PacketDecodeError };

export class PacketDecodeError extends Error {
  override readonly name = 'PacketDecodeError';
  constructor(
    readonly reason: 'checksum' | 'bad-length' | 'bad-pid' | 'garbage',
    readonly length: number,
  ) {
    super(`fingerprint packet rejected: ${reason} (${length} bytes)`);
  }
}

const VALID_PIDS = new Set<number>(Object.values(PID));

export function checksum(pid: number, length: number, payload: Uint8Array): number {
  let sum = pid + (length >> 8) + (length & 0xff);
  for (const byte of payload) sum += byte;
  return sum & 0xffff;
}

export function encodePacket(packet: Packet): Buffer {
  if (packet.payload.length > MAX_PAYLOAD) throw new RangeError(`payload is at most ${MAX_PAYLOAD} bytes`);
  const length = packet.payload.length + 2;
  const out = Buffer.alloc(9 + length);
  out.writeUInt16BE(HEADER, 0);
  out.writeUInt32BE(packet.address >>> 0, 2);
  out.writeUInt8(packet.pid, 6);
  out.writeUInt16BE(length, 7);
  Buffer.from(packet.payload).copy(out, 9);
  out.writeUInt16BE(checksum(packet.pid, length, packet.payload), 9 + packet.payload.length);
  return out;
}

/**
 * Splits a byte stream into packets wherever chunks are cut. Bytes before a header are garbage
 * (reported once per run); a bad checksum, PID or length drops the header and resynchronises on
 * the next 0xEF 0x01.
 */
export class PacketDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private garbage = 0;

  push(chunk: Uint8Array): FingerprintFrame[] {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const frames: FingerprintFrame[] = [];
    for (;;) {
      const start = this.findHeader();
      if (start > 0) {
        this.garbage += start;
        this.buffer = this.buffer.subarray(start);
      }
      if (this.buffer.length < 9) break;
      if (this.garbage > 0) {
        frames.push({ kind: 'error', error: new PacketDecodeError('garbage', this.garbage) });
        this.garbage = 0;
      }
      const pid = this.buffer[6] as number;
      const length = this.buffer.readUInt16BE(7);
      if (!VALID_PIDS.has(pid) || length < 2 || length > MAX_PAYLOAD + 2) {
        frames.push({
          kind: 'error',
          error: new PacketDecodeError(VALID_PIDS.has(pid) ? 'bad-length' : 'bad-pid', 9),
        });
        this.buffer = this.buffer.subarray(1);
        continue;
      }
      if (this.buffer.length < 9 + length) break;
      const payload = Buffer.from(this.buffer.subarray(9, 7 + length));
      const sum = this.buffer.readUInt16BE(7 + length);
      if (sum !== checksum(pid, length, payload)) {
        frames.push({ kind: 'error', error: new PacketDecodeError('checksum', 9 + length) });
        this.buffer = this.buffer.subarray(1);
        continue;
      }
      frames.push({ kind: 'packet', packet: { address: this.buffer.readUInt32BE(2), pid, payload } });
      this.buffer = this.buffer.subarray(9 + length);
    }
    return frames;
  }

  /** Index of the next possible header; keeps a trailing 0xEF that may start one. */
  private findHeader(): number {
    const buffer = this.buffer;
    for (let i = 0; i < buffer.length; i++) {
      if (buffer[i] !== 0xef) continue;
      if (i + 1 === buffer.length || buffer[i + 1] === 0x01) return i;
    }
    return buffer.length;
  }
}

// ---- commands and answers ----------------------------------------------------------------------

export function command(
  instruction: number,
  args: readonly number[] = [],
  address = DEFAULT_ADDRESS,
): Buffer {
  return encodePacket({ address, pid: PID.command, payload: Buffer.from([instruction, ...args]) });
}

const u16 = (value: number) => [(value >> 8) & 0xff, value & 0xff];
const u32 = (value: number) => [
  (value >>> 24) & 0xff,
  (value >> 16) & 0xff,
  (value >> 8) & 0xff,
  value & 0xff,
];

export const commands = {
  vfyPwd: (password: number) => command(INSTRUCTION.vfyPwd, u32(password)),
  setPwd: (password: number) => command(INSTRUCTION.setPwd, u32(password)),
  readSysPara: () => command(INSTRUCTION.readSysPara),
  setSysPara: (register: number, value: number) => command(INSTRUCTION.setSysPara, [register, value]),
  genImg: () => command(INSTRUCTION.genImg),
  img2Tz: (buffer: 1 | 2) => command(INSTRUCTION.img2Tz, [buffer]),
  regModel: () => command(INSTRUCTION.regModel),
  match: () => command(INSTRUCTION.match),
  search: (buffer: 1 | 2, startPage: number, pageCount: number) =>
    command(INSTRUCTION.search, [buffer, ...u16(startPage), ...u16(pageCount)]),
  highSpeedSearch: (buffer: 1 | 2, startPage: number, pageCount: number) =>
    command(INSTRUCTION.highSpeedSearch, [buffer, ...u16(startPage), ...u16(pageCount)]),
  store: (buffer: 1 | 2, page: number) => command(INSTRUCTION.store, [buffer, ...u16(page)]),
  loadChar: (buffer: 1 | 2, page: number) => command(INSTRUCTION.loadChar, [buffer, ...u16(page)]),
  deleteChar: (page: number, count: number) => command(INSTRUCTION.deleteChar, [...u16(page), ...u16(count)]),
  upChar: (buffer: 1 | 2) => command(INSTRUCTION.upChar, [buffer]),
  downChar: (buffer: 1 | 2) => command(INSTRUCTION.downChar, [buffer]),
  upImage: () => command(INSTRUCTION.upImage),
  downImage: () => command(INSTRUCTION.downImage),
  empty: () => command(INSTRUCTION.empty),
  templeteNum: () => command(INSTRUCTION.templeteNum),
  readIndexTable: (indexPage: number) => command(INSTRUCTION.readIndexTable, [indexPage]),
  getRandomCode: () => command(INSTRUCTION.getRandomCode),
};

export function ack(
  code: number,
  extra: readonly number[] | Uint8Array = [],
  address = DEFAULT_ADDRESS,
): Buffer {
  return encodePacket({ address, pid: PID.ack, payload: Buffer.from([code, ...extra]) });
}

/** Splits a template into data packets of `packetSize` bytes, the last one with PID 0x08. */
export function dataPackets(data: Uint8Array, packetSize: number, address = DEFAULT_ADDRESS): Buffer[] {
  const packets: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += packetSize) {
    const last = offset + packetSize >= data.length;
    packets.push(
      encodePacket({
        address,
        pid: last ? PID.endData : PID.data,
        payload: Buffer.from(data.subarray(offset, offset + packetSize)),
      }),
    );
  }
  return packets;
}

export interface SystemParameters {
  statusRegister: number;
  systemId: number;
  librarySize: number;
  securityLevel: number;
  address: number;
  /** data packet payload size in bytes (32, 64, 128 or 256) */
  packetSize: number;
  baudRate: number;
}

export const PACKET_SIZES = [32, 64, 128, 256] as const;

/** SetSysPara's parameter numbers (manual §"Set module system's basic parameter SetSysPara"). */
export const SYSTEM_REGISTER = { baudRate: 4, securityLevel: 5, packetSize: 6 } as const;

/** ReadSysPara's status register bits (manual §"System status register"). */
export const STATUS_BIT = { busy: 0x1, pass: 0x2, passwordVerified: 0x4, imageValid: 0x8 } as const;

/**
 * The image buffer is 256 × 288 pixels; UpImage/DownImage carry only the upper 4 bits of each
 * pixel, two pixels a byte (ZFM user manual §"Buffer and Flash": "ImageBuffer").
 */
export const IMAGE = { width: 256, height: 288, bytes: (256 * 288) / 2 } as const;

/** The notepad: 16 pages of 32 bytes in flash (manual §"Notepad"). */
export const NOTEPAD = { pages: 16, pageBytes: 32 } as const;

/** ReadIndexTable: one bit per template, 256 templates (32 bytes) per index page, bit 0 first. */
export const INDEX_PAGE_TEMPLATES = 256;

export function encodeSystemParameters(p: SystemParameters): number[] {
  const sizeCode = PACKET_SIZES.indexOf(p.packetSize as (typeof PACKET_SIZES)[number]);
  return [
    ...u16(p.statusRegister),
    ...u16(p.systemId),
    ...u16(p.librarySize),
    ...u16(p.securityLevel),
    ...u32(p.address),
    ...u16(sizeCode < 0 ? 2 : sizeCode),
    ...u16(Math.round(p.baudRate / 9600)),
  ];
}

/** ReadSysPara's 16 parameter bytes (after the confirmation code). */
export function decodeSystemParameters(bytes: Buffer): SystemParameters | undefined {
  if (bytes.length < 16) return undefined;
  const sizeCode = bytes.readUInt16BE(12);
  const packetSize = PACKET_SIZES[sizeCode];
  if (packetSize === undefined) return undefined;
  return {
    statusRegister: bytes.readUInt16BE(0),
    systemId: bytes.readUInt16BE(2),
    librarySize: bytes.readUInt16BE(4),
    securityLevel: bytes.readUInt16BE(6),
    address: bytes.readUInt32BE(8),
    packetSize,
    baudRate: bytes.readUInt16BE(14) * 9600,
  };
}

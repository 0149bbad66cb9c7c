/**
 * ESC/POS as the Epson ESC/POS command reference gives it. Host side: receipts encoded for a
 * printer profile (profiles.ts: CP1258, TCVN-3 or GS v 0 raster), DLE EOT status. Printer side:
 * a decoder that takes every command by its real length (commands.ts), so no parameter byte is
 * ever printed, and an assembler that keeps the style of every character. Pure codec.
 */
import { encodeCp1258 } from './cp1258.js';
import { commandLength, DLE, ESC, FS, GS, isCommandPrefix } from './commands.js';
import { packRaster, rasterText } from './font.js';
import { PRINTER_PROFILES, type PrinterProfile } from './profiles.js';
import { TCVN3_CAPITALS_BYTES, TCVN3_LOWER_BYTES } from './tcvn3.js';

export { DLE, ESC, FS, GS } from './commands.js';
export const EOT = 0x04;
export const LF = 0x0a;
export const CR = 0x0d;

export type Align = 'left' | 'center' | 'right';

export type ReceiptItem =
  | {
      kind: 'text';
      text: string;
      bold?: boolean;
      underline?: boolean;
      width?: 1 | 2 | 3 | 4;
      height?: 1 | 2 | 3 | 4;
      align?: Align;
    }
  | { kind: 'qr'; data: string; moduleSize?: number; align?: Align }
  | { kind: 'feed'; lines: number };

export interface Receipt {
  items: ReceiptItem[];
}

export const DEFAULT_PROFILE = PRINTER_PROFILES['epson-wpc1258'];
const ALIGN_CODE: Record<Align, number> = { left: 0, center: 1, right: 2 };
/** QR data the printer accepts in one store (model 2, version 40, numeric: 7089 + 3 header bytes). */
export const MAX_QR_BYTES = 7089;
/** CP1258's combining tone marks (U+0300, U+0301, U+0303, U+0309, U+0323) */
const CP1258_TONE_BYTES = new Set([0xcc, 0xec, 0xde, 0xd2, 0xf2]);

function qrFunction(fn: number, params: readonly number[]): number[] {
  const length = params.length + 2;
  return [GS, 0x28, 0x6b, length & 0xff, length >> 8, 0x31, fn, ...params];
}

/** A whole receipt for a printer profile: initialise, leave Kanji mode, code page, items, cut. */
export function encodeReceipt(receipt: Receipt, profile: PrinterProfile = DEFAULT_PROFILE): Buffer {
  const out: number[] = [ESC, 0x40, FS, 0x2e];
  if (profile.text.kind !== 'raster') out.push(ESC, 0x74, profile.text.table);
  const state = { table: profile.text.kind === 'raster' ? 0 : profile.text.table };
  for (const item of receipt.items) {
    if (item.kind === 'feed') out.push(ESC, 0x64, Math.max(0, Math.min(255, item.lines)));
    else if (item.kind === 'text') out.push(...encodeText(item, profile, state));
    else out.push(...encodeQr(item));
  }
  out.push(ESC, 0x61, 0, ESC, 0x64, 4, GS, 0x56, 0x42, 0x00); // feed, then GS V 66 0: partial cut
  return Buffer.from(out);
}

function encodeText(
  item: Extract<ReceiptItem, { kind: 'text' }>,
  profile: PrinterProfile,
  state: { table: number },
): number[] {
  const width = item.width ?? 1;
  const height = item.height ?? 1;
  const out = [ESC, 0x61, ALIGN_CODE[item.align ?? 'left']];
  out.push(
    ESC,
    0x45,
    item.bold ? 1 : 0,
    ESC,
    0x2d,
    item.underline ? 1 : 0,
    GS,
    0x21,
    ((width - 1) << 4) | (height - 1),
  );
  for (const line of item.text.split('\n')) {
    const text = textBytes(line, profile, state);
    if (text) out.push(...text, LF);
    else out.push(...rasterLine(line, width, height, item.bold ?? false));
  }
  out.push(ESC, 0x45, 0, ESC, 0x2d, 0, GS, 0x21, 0);
  return out;
}

/** The line in the profile's code page, or undefined when only a raster image prints it right. */
function textBytes(line: string, profile: PrinterProfile, state: { table: number }): number[] | undefined {
  const text = profile.text;
  if (text.kind === 'raster') return undefined;
  if (text.kind === 'cp1258') {
    const bytes = [...encodeCp1258(line)];
    if (!text.composesMarks && bytes.some((byte) => CP1258_TONE_BYTES.has(byte))) return undefined;
    // a character the code page lacks would print as "?": the raster line prints it right
    if (countQuestionMarks(bytes) !== countQuestionMarks(line)) return undefined;
    return bytes;
  }
  const out: number[] = [];
  let table = state.table;
  for (const char of line.normalize('NFC')) {
    const lower = TCVN3_LOWER_BYTES.get(char);
    const capital = TCVN3_CAPITALS_BYTES.get(char);
    // stay in the current table when it has the character (ASCII is in both)
    const here = table === text.table ? lower : capital;
    if (here !== undefined) out.push(here);
    else if (lower !== undefined) out.push(ESC, 0x74, (table = text.table), lower);
    else if (capital !== undefined) out.push(ESC, 0x74, (table = text.capitalsTable), capital);
    else return undefined; // not in TCVN-3 (e.g. "—"): the raster line prints it right
  }
  state.table = table;
  return out;
}

function countQuestionMarks(text: string | readonly number[]): number {
  return typeof text === 'string'
    ? [...text].filter((c) => c === '?').length
    : text.filter((b) => b === 0x3f).length;
}

/** GS v 0 0 xL xH yL yH d…: the line drawn in the shared font (font.ts), as wide as its text. */
function rasterLine(line: string, width: number, height: number, bold: boolean): number[] {
  const chars = [...line.normalize('NFC')].length;
  const widthDots = Math.max(8, Math.ceil((chars * 12 * width) / 8) * 8);
  const bitmap = rasterText(line, { widthDots, scaleX: width, scaleY: height, bold });
  const { bytesPerRow, data } = packRaster(bitmap);
  return [
    GS,
    0x76,
    0x30,
    0,
    bytesPerRow & 0xff,
    bytesPerRow >> 8,
    bitmap.height & 0xff,
    bitmap.height >> 8,
    ...data,
  ];
}

function encodeQr(item: Extract<ReceiptItem, { kind: 'qr' }>): number[] {
  const data = Buffer.from(item.data, 'utf8');
  if (data.length > MAX_QR_BYTES) throw new RangeError(`a QR code holds at most ${MAX_QR_BYTES} bytes`);
  return [
    ESC,
    0x61,
    ALIGN_CODE[item.align ?? 'left'],
    ...qrFunction(0x41, [0x32, 0x00]), // fn 165: model 2
    ...qrFunction(0x43, [Math.max(1, Math.min(16, item.moduleSize ?? 6))]), // fn 167: module size
    ...qrFunction(0x45, [0x31]), // fn 169: error correction level M
    ...qrFunction(0x50, [0x30, ...data]), // fn 180: store the data
    ...qrFunction(0x51, [0x30]), // fn 181: print the symbol
    LF,
  ];
}

// ---- status ---------------------------------------------------------------------------------------

/** DLE EOT n: 1 printer, 2 off-line cause, 3 error cause, 4 roll paper sensor. */
export function statusRequest(n: 1 | 2 | 3 | 4): Buffer {
  return Buffer.from([DLE, EOT, n]);
}

export interface PrinterStatus {
  coverOpen: boolean;
  paperOut: boolean;
  paperNearEnd: boolean;
}

/** Every DLE EOT status byte has the fixed pattern 0xx1xx10 (bit 1 and bit 4 set, 0 and 7 clear). */
export const isStatusByte = (byte: number) => (byte & 0x93) === 0x12;

/** Off-line cause (DLE EOT 2) and roll paper sensor (DLE EOT 4) bytes → status. */
export function decodeStatus(offline: number, paper: number): PrinterStatus {
  return {
    coverOpen: (offline & 0x04) !== 0,
    paperOut: (paper & 0x60) !== 0 || (offline & 0x20) !== 0,
    paperNearEnd: (paper & 0x0c) !== 0,
  };
}

/** The DLE EOT n answer. n = 3 (error cause) reports no cutter or unrecoverable errors. */
export function encodeStatus(n: 1 | 2 | 3 | 4, status: PrinterStatus): number {
  let byte = 0x12;
  if (n === 1 && (status.coverOpen || status.paperOut)) byte |= 0x08; // off-line
  if (n === 2) byte |= (status.coverOpen ? 0x04 : 0) | (status.paperOut ? 0x20 : 0);
  if (n === 4) byte |= (status.paperNearEnd ? 0x0c : 0) | (status.paperOut ? 0x60 : 0);
  return byte;
}

/** GS r 1 / 49: paper sensor status (bits 0–1 near end, 2–3 paper end; bit 4 fixed 0). */
export function encodePaperSensorStatus(status: PrinterStatus): number {
  return (status.paperNearEnd ? 0x03 : 0) | (status.paperOut ? 0x0c : 0);
}

/** GS r 1: transmit paper sensor status, answered in sequence (after what came before it). */
export function transmitPaperSensorStatus(): Buffer {
  return Buffer.from([GS, 0x72, 1]);
}

/** GS r 1 answers have bits 4–7 clear, so they never look like a DLE EOT answer (bit 4 set). */
export const isPaperSensorByte = (byte: number) => (byte & 0xf0) === 0;

export type StatusFrame =
  { kind: 'status'; byte: number } | { kind: 'paper-sensor'; byte: number } | { kind: 'error'; byte: number };

/** Host side: the printer's answers are single status bytes; anything else is noise. */
export class StatusDecoder {
  push(chunk: Uint8Array): StatusFrame[] {
    return [...chunk].map((byte) =>
      isStatusByte(byte)
        ? { kind: 'status', byte }
        : isPaperSensorByte(byte)
          ? { kind: 'paper-sensor', byte }
          : { kind: 'error', byte },
    );
  }
}

// ---- printer side: decoding the command stream --------------------------------------------------

/** A command the printer acts on, or `skipped` (defined, no effect on the paper we model). */
export type EscPosCommand =
  | { kind: 'text'; bytes: Buffer }
  | { kind: 'newline' }
  | { kind: 'carriage-return' }
  | { kind: 'esc'; code: number; params: Buffer }
  | { kind: 'fs'; code: number; params: Buffer }
  | { kind: 'gs'; code: number; params: Buffer }
  | { kind: 'dle'; code: number; params: Buffer }
  | { kind: 'unknown'; bytes: Buffer };

const PREFIX_KIND = { [ESC]: 'esc', [FS]: 'fs', [GS]: 'gs', [DLE]: 'dle' } as const;
/** A declared length past this is noise, not a command: skip its prefix rather than wait forever. */
const MAX_COMMAND_BYTES = 1 << 20;

/** The printer's decoder of what it receives, wherever chunks split. */
export class EscPosDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): EscPosCommand[] {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const out: EscPosCommand[] = [];
    const b = this.buffer;
    let i = 0;
    while (i < b.length) {
      const byte = b[i] as number;
      if (byte === LF || byte === CR) {
        out.push({ kind: byte === LF ? 'newline' : 'carriage-return' });
        i++;
      } else if (!isCommandPrefix(byte)) {
        let j = i;
        while (j < b.length && !isCommandPrefix(b[j] as number) && b[j] !== LF && b[j] !== CR) j++;
        // other C0 controls (HT, FF, CAN …) print nothing
        const text = Buffer.from(b.subarray(i, j).filter((c) => c >= 0x20));
        if (text.length > 0) out.push({ kind: 'text', bytes: text });
        i = j;
      } else {
        const used = this.command(b, i, out);
        if (used === 0) break; // incomplete: wait for more bytes
        i += used;
      }
    }
    this.buffer = Buffer.from(b.subarray(i));
    return out;
  }

  private command(b: Buffer, i: number, out: EscPosCommand[]): number {
    const found = commandLength(b, i);
    if (found === undefined) {
      if (b.length - i <= MAX_COMMAND_BYTES) return 0;
      out.push({ kind: 'unknown', bytes: Buffer.from(b.subarray(i, i + 2)) });
      return 2;
    }
    const bytes = Buffer.from(b.subarray(i, i + found.length));
    if (!found.known) out.push({ kind: 'unknown', bytes });
    else {
      const kind = PREFIX_KIND[b[i] as keyof typeof PREFIX_KIND];
      out.push({ kind, code: bytes[1] as number, params: bytes.subarray(2) });
    }
    return found.length;
  }
}

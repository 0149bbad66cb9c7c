/**
 * ESC/POS, the subset a receipt needs (Epson "ESC/POS Application Programming Guide" command
 * names): ESC @ initialize, ESC t select character code table, ESC E emphasized, GS ! character
 * size, ESC a justification, ESC d print and feed n lines, LF, GS ( k (QR Code: function 165
 * model, 167 module size, 169 error correction, 180 store, 181 print), GS V select cut mode and
 * cut, DLE EOT transmit real-time status. Text is CP1258 (see cp1258.ts). Pure codec.
 */
import { CP1258_CODE_TABLE, decodeCp1258, encodeCp1258 } from './cp1258.js';

export const ESC = 0x1b;
export const GS = 0x1d;
export const DLE = 0x10;
export const EOT = 0x04;
export const LF = 0x0a;

export type Align = 'left' | 'center' | 'right';

export type ReceiptItem =
  | {
      kind: 'text';
      text: string;
      bold?: boolean;
      width?: 1 | 2 | 3 | 4;
      height?: 1 | 2 | 3 | 4;
      align?: Align;
    }
  | { kind: 'qr'; data: string; moduleSize?: number; align?: Align }
  | { kind: 'feed'; lines: number };

export interface Receipt {
  items: ReceiptItem[];
}

const ALIGN_CODE: Record<Align, number> = { left: 0, center: 1, right: 2 };
/** QR data the printer accepts in one store (model 2, version 40, numeric: 7089 + 3 header bytes). */
export const MAX_QR_BYTES = 7089;

function qrFunction(fn: number, params: readonly number[]): number[] {
  const length = params.length + 2;
  return [GS, 0x28, 0x6b, length & 0xff, length >> 8, 0x31, fn, ...params];
}

/** A whole receipt as bytes: initialise, code page, items, feed, partial cut. */
export function encodeReceipt(receipt: Receipt): Buffer {
  const out: number[] = [ESC, 0x40, ESC, 0x74, CP1258_CODE_TABLE];
  for (const item of receipt.items) {
    if (item.kind === 'feed') {
      out.push(ESC, 0x64, Math.max(0, Math.min(255, item.lines)));
      continue;
    }
    out.push(ESC, 0x61, ALIGN_CODE[item.align ?? 'left']);
    if (item.kind === 'text') {
      const width = (item.width ?? 1) - 1;
      const height = (item.height ?? 1) - 1;
      out.push(ESC, 0x45, item.bold ? 1 : 0, GS, 0x21, (width << 4) | height);
      for (const line of item.text.split('\n')) out.push(...encodeCp1258(line), LF);
      out.push(ESC, 0x45, 0, GS, 0x21, 0);
      continue;
    }
    const data = Buffer.from(item.data, 'utf8');
    if (data.length > MAX_QR_BYTES) throw new RangeError(`a QR code holds at most ${MAX_QR_BYTES} bytes`);
    out.push(
      ...qrFunction(0x41, [0x32, 0x00]), // fn 165: model 2
      ...qrFunction(0x43, [Math.max(1, Math.min(16, item.moduleSize ?? 6))]), // fn 167: module size
      ...qrFunction(0x45, [0x31]), // fn 169: error correction level M
      ...qrFunction(0x50, [0x30, ...data]), // fn 180: store the data
      ...qrFunction(0x51, [0x30]), // fn 181: print the symbol
      LF,
    );
  }
  out.push(ESC, 0x61, 0, ESC, 0x64, 4, GS, 0x56, 0x42, 0x00); // feed, then GS V 66 0: partial cut
  return Buffer.from(out);
}

/** DLE EOT n: 1 printer, 2 off-line cause, 4 roll paper sensor. */
export function statusRequest(n: 1 | 2 | 4): Buffer {
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

export function encodeStatus(n: 1 | 2 | 4, status: PrinterStatus): number {
  let byte = 0x12;
  if (n === 1 && (status.coverOpen || status.paperOut)) byte |= 0x08; // off-line
  if (n === 2) byte |= (status.coverOpen ? 0x04 : 0) | (status.paperOut ? 0x20 : 0);
  if (n === 4) byte |= (status.paperNearEnd ? 0x0c : 0) | (status.paperOut ? 0x60 : 0);
  return byte;
}

export type StatusFrame = { kind: 'status'; byte: number } | { kind: 'error'; byte: number };

/** Host side: the printer's answers are single status bytes; anything else is noise. */
export class StatusDecoder {
  push(chunk: Uint8Array): StatusFrame[] {
    return [...chunk].map((byte) =>
      isStatusByte(byte) ? { kind: 'status', byte } : { kind: 'error', byte },
    );
  }
}

// ---- printer side: decoding the command stream --------------------------------------------------

export type EscPosCommand =
  | { kind: 'init' }
  | { kind: 'code-table'; table: number }
  | { kind: 'bold'; on: boolean }
  | { kind: 'size'; width: number; height: number }
  | { kind: 'align'; align: Align }
  | { kind: 'feed'; lines: number }
  | { kind: 'text'; bytes: Buffer }
  | { kind: 'newline' }
  | { kind: 'qr'; fn: number; params: Buffer }
  | { kind: 'cut'; partial: boolean }
  | { kind: 'status-request'; n: number }
  | { kind: 'unknown'; bytes: Buffer };

const ALIGN_OF: Record<number, Align> = {
  0: 'left',
  1: 'center',
  2: 'right',
  48: 'left',
  49: 'center',
  50: 'right',
};
const MAX_GS_K = MAX_QR_BYTES + 8;

/**
 * The printer's decoder of what it receives, wherever chunks split. Unknown escape sequences are
 * reported as `unknown` (their lead bytes only) and skipped; an oversize GS ( k is dropped.
 */
export class EscPosDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): EscPosCommand[] {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const out: EscPosCommand[] = [];
    let i = 0;
    const b = this.buffer;
    while (i < b.length) {
      const byte = b[i] as number;
      if (byte === LF) {
        out.push({ kind: 'newline' });
        i++;
        continue;
      }
      if (byte !== ESC && byte !== GS && byte !== DLE) {
        let j = i;
        while (j < b.length && b[j] !== ESC && b[j] !== GS && b[j] !== DLE && b[j] !== LF) j++;
        const text = Buffer.from(b.subarray(i, j).filter((c) => c >= 0x20 || c === 0x09));
        if (text.length > 0) out.push({ kind: 'text', bytes: text });
        i = j;
        continue;
      }
      const used = this.command(b, i, out);
      if (used === 0) break; // incomplete: wait for more bytes
      i += used;
    }
    this.buffer = Buffer.from(b.subarray(i));
    return out;
  }

  /** Parses one command at `i`; returns the bytes it used, 0 when more bytes are needed. */
  private command(b: Buffer, i: number, out: EscPosCommand[]): number {
    const need = (n: number) => i + n <= b.length;
    if (!need(2)) return 0;
    const lead = b[i] as number;
    const op = b[i + 1] as number;
    const arg = b[i + 2] as number;
    if (lead === DLE) {
      if (op !== EOT) return this.unknown(b, i, 1, out);
      if (!need(3)) return 0;
      out.push({ kind: 'status-request', n: arg });
      return 3;
    }
    if (lead === ESC) {
      if (op === 0x40) {
        out.push({ kind: 'init' });
        return 2;
      }
      if ([0x74, 0x45, 0x61, 0x64].includes(op)) {
        if (!need(3)) return 0;
        if (op === 0x74) out.push({ kind: 'code-table', table: arg });
        else if (op === 0x45) out.push({ kind: 'bold', on: (arg & 1) === 1 });
        else if (op === 0x61) out.push({ kind: 'align', align: ALIGN_OF[arg] ?? 'left' });
        else out.push({ kind: 'feed', lines: arg });
        return 3;
      }
      return this.unknown(b, i, 2, out);
    }
    // GS
    if (op === 0x21) {
      if (!need(3)) return 0;
      out.push({ kind: 'size', width: ((arg >> 4) & 0x07) + 1, height: (arg & 0x07) + 1 });
      return 3;
    }
    if (op === 0x56) {
      if (!need(3)) return 0;
      if (arg === 65 || arg === 66) {
        if (!need(4)) return 0;
        out.push({ kind: 'cut', partial: arg === 66 });
        return 4;
      }
      out.push({ kind: 'cut', partial: arg === 1 || arg === 49 });
      return 3;
    }
    if (op === 0x28) {
      if (!need(5)) return 0;
      if (b[i + 2] !== 0x6b) return this.unknown(b, i, 3, out);
      const length = (b[i + 3] as number) | ((b[i + 4] as number) << 8);
      if (length < 2 || length > MAX_GS_K) return this.unknown(b, i, 5, out);
      if (!need(5 + length)) return 0;
      out.push({
        kind: 'qr',
        fn: b[i + 6] as number,
        params: Buffer.from(b.subarray(i + 7, i + 5 + length)),
      });
      return 5 + length;
    }
    return this.unknown(b, i, 2, out);
  }

  private unknown(b: Buffer, i: number, length: number, out: EscPosCommand[]): number {
    out.push({ kind: 'unknown', bytes: Buffer.from(b.subarray(i, i + length)) });
    return length;
  }
}

// ---- the decoded receipt ------------------------------------------------------------------------

export interface PrintedLine {
  text: string;
  bold: boolean;
  width: number;
  height: number;
  align: Align;
}

export interface PrintedReceipt {
  lines: PrintedLine[];
  qrCodes: string[];
  cut: boolean;
}

/** Turns decoded commands into receipts as a reader of the paper would see them. */
export class ReceiptAssembler {
  private state = { bold: false, width: 1, height: 1, align: 'left' as Align, table: 0 };
  private text: Buffer[] = [];
  private current: PrintedReceipt = { lines: [], qrCodes: [], cut: false };
  private qrData: Buffer | undefined;

  /** Applies commands; returns receipts completed by a cut. */
  apply(commands: readonly EscPosCommand[]): PrintedReceipt[] {
    const done: PrintedReceipt[] = [];
    for (const command of commands) {
      switch (command.kind) {
        case 'init':
          // ESC @ clears the print buffer: bytes not yet printed are lost, as on the printer.
          this.text = [];
          this.state = { bold: false, width: 1, height: 1, align: 'left', table: 0 };
          break;
        case 'code-table':
          this.state.table = command.table;
          break;
        case 'bold':
          this.state.bold = command.on;
          break;
        case 'size':
          this.state.width = command.width;
          this.state.height = command.height;
          break;
        case 'align':
          this.state.align = command.align;
          break;
        case 'text':
          this.text.push(command.bytes);
          break;
        case 'newline':
          this.flushLine();
          break;
        case 'feed':
          this.flushLine();
          break;
        case 'qr':
          if (command.fn === 0x50) this.qrData = command.params.subarray(1);
          if (command.fn === 0x51 && this.qrData) this.current.qrCodes.push(this.qrData.toString('utf8'));
          break;
        case 'cut':
          this.flushLine();
          this.current.cut = true;
          done.push(this.current);
          this.current = { lines: [], qrCodes: [], cut: false };
          break;
        default:
          break;
      }
    }
    return done;
  }

  private flushLine(): void {
    if (this.text.length === 0) return;
    const bytes = Buffer.concat(this.text);
    this.text = [];
    const text = this.state.table === CP1258_CODE_TABLE ? decodeCp1258(bytes) : bytes.toString('latin1');
    const { bold, width, height, align } = this.state;
    this.current.lines.push({ text, bold, width, height, align });
  }
}

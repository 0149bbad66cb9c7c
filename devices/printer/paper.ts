/**
 * What the printer puts on paper for the commands it decoded: lines of characters each with its
 * own style (ESC E, ESC G, ESC !, GS !, ESC -, GS B, ESC M), raster images (GS v 0, read back as
 * text when they are lines of the shared font), QR codes (GS ( k), bar codes (GS k) and cuts.
 * Characters go through the code table in force (ESC t) as the printer's profile maps it; a
 * combining tone mark is struck over the previous character only on a printer that composes.
 */
import { decodeCp1258 } from './cp1258.js';
import { type Bitmap, newBitmap, readRasterText, unpackRaster } from './font.js';
import { type PrinterProfile } from './profiles.js';
import { type Align, DEFAULT_PROFILE, type EscPosCommand } from './protocol.js';
import { TCVN3_CAPITALS, TCVN3_LOWER } from './tcvn3.js';

export interface CharStyle {
  bold: boolean;
  underline: number;
  width: number;
  height: number;
  invert: boolean;
  font: 'A' | 'B';
}

/** One printed cell: a character and any marks struck over it. */
export interface PrintedCell extends CharStyle {
  chars: string;
}

export interface PrintedSpan extends CharStyle {
  text: string;
}

export interface PrintedLine {
  /** what a reader sees: cells in order, each cell read as one glyph (NFC within the cell only) */
  text: string;
  align: Align;
  /** every character bold / the largest size on the line (the spans have each character's own) */
  bold: boolean;
  width: number;
  height: number;
  spans: PrintedSpan[];
  /** printed as a GS v 0 image and read back by glyph matching */
  raster: boolean;
}

export type PaperBlock =
  | { kind: 'line'; line: PrintedLine; cells: PrintedCell[] }
  | { kind: 'image'; bitmap: Bitmap; align: Align }
  | { kind: 'qr'; data: string; moduleSize: number; align: Align }
  | { kind: 'barcode'; data: string; align: Align }
  | { kind: 'feed'; dots: number };

export interface PrintedReceipt {
  lines: PrintedLine[];
  qrCodes: string[];
  barcodes: string[];
  /** commands the reference does not define (their prefix and code bytes), never printed */
  unknownCommands: number;
  paper: PaperBlock[];
  cut: boolean;
}

const ALIGN_OF: Record<number, Align> = {
  0: 'left',
  1: 'center',
  2: 'right',
  48: 'left',
  49: 'center',
  50: 'right',
};
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
const WPC1252 = new TextDecoder('windows-1252');
const GBK = new TextDecoder('gbk');
const COMBINING = /^\p{M}$/u;

function emptyReceipt(): PrintedReceipt {
  return { lines: [], qrCodes: [], barcodes: [], unknownCommands: 0, paper: [], cut: false };
}

export class ReceiptAssembler {
  private style: CharStyle = defaultStyle();
  private align: Align = 'left';
  private table = 0;
  private kanji: boolean;
  private kanjiLead: number | undefined;
  private cells: PrintedCell[] = [];
  private current = emptyReceipt();
  private qr = { data: undefined as Buffer | undefined, moduleSize: 3 };

  constructor(private readonly profile: PrinterProfile = DEFAULT_PROFILE) {
    this.kanji = profile.kanjiAtPowerOn;
  }

  /** Applies commands; returns receipts completed by a cut. */
  apply(commands: readonly EscPosCommand[]): PrintedReceipt[] {
    const done: PrintedReceipt[] = [];
    for (const command of commands) {
      if (command.kind === 'text') this.print(command.bytes);
      else if (command.kind === 'newline') this.flushLine(true);
      else if (command.kind === 'esc') this.esc(command.code, command.params);
      else if (command.kind === 'gs') {
        if (this.gs(command.code, command.params)) {
          done.push(this.current);
          this.current = emptyReceipt();
        }
      } else if (command.kind === 'fs') this.fs(command.code, command.params);
      else if (command.kind === 'unknown') this.current.unknownCommands++;
    }
    return done;
  }

  private esc(code: number, p: Buffer): void {
    const n = p[0] ?? 0;
    switch (code) {
      case 0x40: // ESC @: clears the print buffer and the modes, as on the printer
        this.cells = [];
        this.style = defaultStyle();
        this.align = 'left';
        this.table = 0;
        this.kanji = this.profile.kanjiAtPowerOn;
        this.kanjiLead = undefined;
        break;
      case 0x21: // ESC ! n: font, emphasized, double height/width, underline in one byte
        this.style = {
          ...this.style,
          font: n & 0x01 ? 'B' : 'A',
          bold: (n & 0x08) !== 0,
          height: n & 0x10 ? 2 : 1,
          width: n & 0x20 ? 2 : 1,
          underline: n & 0x80 ? 1 : 0,
        };
        break;
      case 0x45: // ESC E
      case 0x47: // ESC G double-strike looks emphasized on paper
        this.style = { ...this.style, bold: (n & 1) === 1 };
        break;
      case 0x2d: // ESC - n: 0/48 off, 1/49 one dot, 2/50 two dots
        this.style = { ...this.style, underline: n >= 48 ? n - 48 : n };
        break;
      case 0x4d:
        this.style = { ...this.style, font: n === 1 || n === 49 ? 'B' : 'A' };
        break;
      case 0x61:
        this.align = ALIGN_OF[n] ?? this.align;
        break;
      case 0x74:
        this.table = n;
        break;
      case 0x64: // ESC d n: print and feed n lines
        this.flushLine(false);
        if (n > 0) this.current.paper.push({ kind: 'feed', dots: n * 30 });
        break;
      case 0x2a: // ESC * m nL nH d…: a bit image in columns (8 or 24 dots tall)
        this.columnImage(p);
        break;
      case 0x4a: // ESC J n: print and feed n dots
        this.flushLine(false);
        this.current.paper.push({ kind: 'feed', dots: n });
        break;
      default:
        break;
    }
  }

  /** Returns true when the command cut the paper. */
  private gs(code: number, p: Buffer): boolean {
    const n = p[0] ?? 0;
    if (code === 0x21) this.style = { ...this.style, width: ((n >> 4) & 7) + 1, height: (n & 7) + 1 };
    else if (code === 0x42) this.style = { ...this.style, invert: (n & 1) === 1 };
    else if (code === 0x28 && p[0] === 0x6b) this.qrFunction(p);
    else if (code === 0x76 && p[0] === 0x30) this.rasterImage(p);
    else if (code === 0x6b) this.barcode(p);
    else if (code === 0x56) {
      this.flushLine(false);
      this.current.cut = true;
      return true;
    }
    return false;
  }

  private fs(code: number, p: Buffer): void {
    if (code === 0x26) this.kanji = true;
    else if (code === 0x2e) {
      this.kanji = false;
      this.kanjiLead = undefined;
    } else if (code === 0x21) {
      const n = p[0] ?? 0; // FS ! n: Kanji print mode (double width bit 2, double height bit 3)
      if (this.kanji) this.style = { ...this.style, width: n & 0x04 ? 2 : 1, height: n & 0x08 ? 2 : 1 };
    }
  }

  private qrFunction(p: Buffer): void {
    // p = 'k' pL pH cn fn …; cn 49 is QR Code
    if (p[3] !== 0x31) return;
    const fn = p[4];
    if (fn === 0x43) this.qr.moduleSize = p[5] ?? 3;
    else if (fn === 0x50) this.qr.data = Buffer.from(p.subarray(6));
    else if (fn === 0x51 && this.qr.data) {
      this.flushLine(false);
      const data = this.qr.data.toString('utf8');
      this.current.qrCodes.push(data);
      this.current.paper.push({ kind: 'qr', data, moduleSize: this.qr.moduleSize, align: this.align });
    }
  }

  private rasterImage(p: Buffer): void {
    // p = '0' m xL xH yL yH d…; m bit 0 double width, bit 1 double height (not used by our host)
    this.flushLine(false);
    const bytesPerRow = (p[2] as number) | ((p[3] as number) << 8);
    const height = (p[4] as number) | ((p[5] as number) << 8);
    const bitmap = unpackRaster(bytesPerRow, height, p.subarray(6));
    const read = readRasterText(bitmap);
    if (read && read.text.length > 0) {
      const cells = read.cells.map((cell) => ({
        ...defaultStyle(),
        chars: cell.char,
        bold: cell.bold,
        width: read.scaleX,
        height: read.scaleY,
      }));
      const line = makeLine(cells, this.align, true);
      this.current.lines.push(line);
    }
    this.current.paper.push({ kind: 'image', bitmap, align: this.align });
  }

  private columnImage(p: Buffer): void {
    this.flushLine(false);
    const m = p[0] ?? 0;
    const columns = (p[1] ?? 0) | ((p[2] ?? 0) << 8);
    const tall = m === 32 || m === 33 ? 24 : 8;
    const single = m === 0 || m === 32; // single density: each column is two dots wide
    const bitmap = newBitmap(columns * (single ? 2 : 1), tall);
    for (let column = 0; column < columns; column++)
      for (let dot = 0; dot < tall; dot++) {
        const byte = p[3 + column * (tall / 8) + (dot >> 3)] ?? 0;
        if ((byte & (0x80 >> (dot & 7))) === 0) continue;
        for (let repeat = 0; repeat < (single ? 2 : 1); repeat++)
          bitmap.dots[dot * bitmap.width + column * (single ? 2 : 1) + repeat] = 1;
      }
    this.current.paper.push({ kind: 'image', bitmap, align: this.align });
  }

  private barcode(p: Buffer): void {
    const m = p[0] ?? 0;
    const data = m <= 6 ? p.subarray(1, p.length - 1) : p.subarray(2);
    this.flushLine(false);
    this.current.barcodes.push(data.toString('latin1'));
    this.current.paper.push({ kind: 'barcode', data: data.toString('latin1'), align: this.align });
  }

  private print(bytes: Buffer): void {
    for (const byte of bytes) {
      if (this.kanji && (byte >= 0x80 || this.kanjiLead !== undefined)) {
        if (this.kanjiLead === undefined) {
          this.kanjiLead = byte;
          continue;
        }
        const char = GBK.decode(Uint8Array.of(this.kanjiLead, byte));
        this.kanjiLead = undefined;
        this.cells.push({ ...this.style, chars: char });
        continue;
      }
      const char = this.character(byte);
      const previous = this.cells.at(-1);
      if (COMBINING.test(char) && previous && this.composesMarks()) previous.chars += char;
      else this.cells.push({ ...this.style, chars: char });
    }
  }

  private composesMarks(): boolean {
    const text = this.profile.text;
    return text.kind === 'cp1258' && text.table === this.table && text.composesMarks;
  }

  /** One byte through the code table in force, as this printer model maps table numbers. */
  private character(byte: number): string {
    if (byte < 0x80) return String.fromCharCode(byte);
    const text = this.profile.text;
    if (text.kind === 'cp1258' && this.table === text.table) return decodeCp1258(Uint8Array.of(byte));
    if (text.kind === 'tcvn3' && this.table === text.table) return TCVN3_LOWER.get(byte) ?? '?';
    if (text.kind === 'tcvn3' && this.table === text.capitalsTable) return TCVN3_CAPITALS.get(byte) ?? '?';
    if (this.table === 16) return WPC1252.decode(Uint8Array.of(byte));
    return CP437_HIGH[byte - 0x80] as string;
  }

  /** LF prints the buffer (an empty LF feeds one line); ESC d, GS v 0, cuts print what is buffered. */
  private flushLine(feedWhenEmpty: boolean): void {
    if (this.cells.length === 0) {
      if (feedWhenEmpty) this.current.paper.push({ kind: 'feed', dots: 30 });
      return;
    }
    const cells = this.cells;
    this.cells = [];
    const line = makeLine(cells, this.align, false);
    this.current.lines.push(line);
    this.current.paper.push({ kind: 'line', line, cells });
  }
}

function defaultStyle(): CharStyle {
  return { bold: false, underline: 0, width: 1, height: 1, invert: false, font: 'A' };
}

const sameStyle = (a: CharStyle, b: CharStyle) =>
  a.bold === b.bold &&
  a.underline === b.underline &&
  a.width === b.width &&
  a.height === b.height &&
  a.invert === b.invert &&
  a.font === b.font;

function makeLine(cells: PrintedCell[], align: Align, raster: boolean): PrintedLine {
  const spans: PrintedSpan[] = [];
  for (const cell of cells) {
    const glyph = cell.chars.normalize('NFC');
    const last = spans.at(-1);
    if (last && sameStyle(last, cell)) last.text += glyph;
    else {
      const { chars: _chars, ...style } = cell;
      spans.push({ ...style, text: glyph });
    }
  }
  return {
    text: spans.map((span) => span.text).join(''),
    align,
    bold: cells.every((cell) => cell.bold),
    width: Math.max(...cells.map((cell) => cell.width)),
    height: Math.max(...cells.map((cell) => cell.height)),
    spans,
    raster,
  };
}

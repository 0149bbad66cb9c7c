/**
 * The dot font both sides of the printer share: GNU Unifont's 8×16 glyphs (font-data.ts) drawn in
 * a 12×24 cell, the size of an Epson Font A character (48 columns on 576 dots of 80 mm paper).
 * The host's raster fallback draws Vietnamese lines with it; the emulator draws its built-in font
 * with it and reads raster lines back by matching each cell against the glyphs, which is exact
 * because both sides draw the same bits (no OCR guesswork).
 */
import { UNIFONT_HEX } from './font-data.js';

/** One bit per dot, row-major, 1 = black. */
export interface Bitmap {
  width: number;
  height: number;
  dots: Uint8Array;
}

export const CELL_WIDTH = 12;
export const CELL_HEIGHT = 24;
const GLYPH_X = 2;
const GLYPH_Y = 4;

const VIETNAMESE_LETTER = /^[ĂăÂâĐđÊêÔôƠơƯư\u1ea0-\u1ef9]$/u;
const GLYPHS = new Map<string, string>();
/** sampled glyph bits → the characters drawn so, plain and emboldened (double-struck one dot right) */
const BY_BITS = new Map<string, string[]>();
const BOLD_BY_BITS = new Map<string, string[]>();
for (const line of UNIFONT_HEX.split('\n')) {
  const [code, bits] = line.split(':');
  if (!code || !bits) continue;
  const char = String.fromCodePoint(Number.parseInt(code, 16));
  GLYPHS.set(char, bits);
  candidate(BY_BITS, bits, char);
  candidate(BOLD_BY_BITS, embolden(bits), char);
}

/**
 * Twins (Đ U+0110 and the Icelandic Ð U+00D0 share a glyph) cannot be told apart on paper: the
 * reader tries the Vietnamese one first.
 */
function candidate(map: Map<string, string[]>, bits: string, char: string): void {
  const list = map.get(bits) ?? [];
  if (VIETNAMESE_LETTER.test(char)) list.unshift(char);
  else list.push(char);
  map.set(bits, list);
}

/** The 8 sampled columns of a glyph struck twice, the second time one dot to the right. */
function embolden(bits: string): string {
  let out = '';
  for (let row = 0; row < 16; row++) {
    const byte = Number.parseInt(bits.slice(row * 2, row * 2 + 2), 16);
    out += ((byte | (byte >> 1)) & 0xff).toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
const REPLACEMENT = '?';

export function newBitmap(width: number, height: number): Bitmap {
  return { width, height, dots: new Uint8Array(width * height) };
}

export function hasGlyph(char: string): boolean {
  return GLYPHS.has(char);
}

/** The glyph's 16 rows of 8 dots as hex, '?' for characters the font lacks. */
export function glyphBits(char: string): string {
  return GLYPHS.get(char) ?? (GLYPHS.get(REPLACEMENT) as string);
}

/** Every character of the font, for tests that the glyphs tell characters apart. */
export function fontCharacters(): string[] {
  return [...GLYPHS.keys()];
}

export interface GlyphPlacement {
  x: number;
  y: number;
  scaleX: number;
  scaleY: number;
}

/** ORs a glyph into the bitmap: overstriking a mark on a letter composes them, as ink does. */
export function drawGlyph(target: Bitmap, char: string, at: GlyphPlacement): void {
  const bits = glyphBits(char);
  for (let row = 0; row < 16; row++) {
    const byte = Number.parseInt(bits.slice(row * 2, row * 2 + 2), 16);
    for (let col = 0; col < 8; col++) {
      if ((byte & (0x80 >> col)) === 0) continue;
      fillRect(target, at.x + col * at.scaleX, at.y + row * at.scaleY, at.scaleX, at.scaleY);
    }
  }
}

export function fillRect(target: Bitmap, x: number, y: number, width: number, height: number): void {
  for (let dy = 0; dy < height; dy++) {
    const row = y + dy;
    if (row < 0 || row >= target.height) continue;
    for (let dx = 0; dx < width; dx++) {
      const col = x + dx;
      if (col >= 0 && col < target.width) target.dots[row * target.width + col] = 1;
    }
  }
}

/** Draws the characters of one cell (a letter and any marks struck over it) at a cell position. */
export function drawCell(
  target: Bitmap,
  chars: string,
  x: number,
  y: number,
  scaleX: number,
  scaleY: number,
  bold = false,
): void {
  for (const char of chars) {
    drawGlyph(target, char, { x: x + GLYPH_X * scaleX, y: y + GLYPH_Y * scaleY, scaleX, scaleY });
    // emphasized: struck again one (scaled) dot to the right, as the printer's own font does
    if (bold)
      drawGlyph(target, char, { x: x + (GLYPH_X + 1) * scaleX, y: y + GLYPH_Y * scaleY, scaleX, scaleY });
  }
}

export interface RasterTextOptions {
  /** the printable width in dots (a multiple of 8: GS v 0 sends whole bytes) */
  widthDots: number;
  scaleX?: number;
  scaleY?: number;
  bold?: boolean;
  align?: 'left' | 'center' | 'right';
}

/**
 * One line of text as a bitmap, one precomposed character per cell (NFC first, so "ê" + U+0323
 * becomes the single glyph "ệ"). Alignment shifts by whole cells so a reader finds the grid.
 */
export function rasterText(text: string, options: RasterTextOptions): Bitmap {
  const scaleX = options.scaleX ?? 1;
  const scaleY = options.scaleY ?? 1;
  const cellWidth = CELL_WIDTH * scaleX;
  const chars = [...text.normalize('NFC')];
  const columns = Math.floor(options.widthDots / cellWidth);
  const spare = Math.max(0, columns - chars.length);
  const lead = options.align === 'center' ? Math.floor(spare / 2) : options.align === 'right' ? spare : 0;
  const bitmap = newBitmap(options.widthDots, CELL_HEIGHT * scaleY);
  chars.slice(0, columns).forEach((char, index) => {
    if (char !== ' ') drawCell(bitmap, char, (lead + index) * cellWidth, 0, scaleX, scaleY, options.bold);
  });
  return bitmap;
}

export interface ReadCell {
  char: string;
  bold: boolean;
}

export interface ReadLine {
  text: string;
  /** the cells of `text`, each with its own emphasis */
  cells: ReadCell[];
  scaleX: number;
  scaleY: number;
}

/**
 * Reads a line drawn by `rasterText` back: the height gives the vertical scale, the horizontal
 * scale is the first under which every cell is blank or exactly one glyph. Leading and trailing
 * blank cells (alignment) are not text. Undefined when the bitmap is not such a line.
 */
export function readRasterText(bitmap: Bitmap): ReadLine | undefined {
  if (bitmap.height % CELL_HEIGHT !== 0) return undefined;
  const scaleY = bitmap.height / CELL_HEIGHT;
  for (let scaleX = 1; scaleX <= 8; scaleX++) {
    const cells = readCells(bitmap, scaleX, scaleY);
    if (cells === undefined) continue;
    const first = cells.findIndex((cell) => cell.char !== ' ');
    const last = cells.findLastIndex((cell) => cell.char !== ' ');
    const text = first < 0 ? [] : cells.slice(first, last + 1);
    // a blank cell shows no emphasis: it reads as part of the run it stands in
    text.forEach((cell, index) => {
      if (cell.char === ' ' && index > 0) cell.bold = (text[index - 1] as ReadCell).bold;
    });
    return { text: text.map((cell) => cell.char).join(''), cells: text, scaleX, scaleY };
  }
  return undefined;
}

function readCells(bitmap: Bitmap, scaleX: number, scaleY: number): ReadCell[] | undefined {
  const cellWidth = CELL_WIDTH * scaleX;
  const cells: ReadCell[] = [];
  for (let x = 0; x + cellWidth <= bitmap.width; x += cellWidth) {
    const cell = readCell(bitmap, x, scaleX, scaleY);
    if (cell === undefined) return undefined;
    cells.push(cell);
  }
  // dots past the last whole cell must be blank
  for (let y = 0; y < bitmap.height; y++) {
    for (let x = bitmap.width - (bitmap.width % cellWidth); x < bitmap.width; x++) {
      if (bitmap.dots[y * bitmap.width + x]) return undefined;
    }
  }
  return cells;
}

function readCell(bitmap: Bitmap, x: number, scaleX: number, scaleY: number): ReadCell | undefined {
  let bits = '';
  for (let row = 0; row < 16; row++) {
    let byte = 0;
    for (let col = 0; col < 8; col++) {
      const dx = x + (GLYPH_X + col) * scaleX;
      const dy = (GLYPH_Y + row) * scaleY;
      if (bitmap.dots[dy * bitmap.width + dx]) byte |= 0x80 >> col;
    }
    bits += byte.toString(16).toUpperCase().padStart(2, '0');
  }
  if (bits === '0'.repeat(32) && cellMatches(bitmap, x, ' ', scaleX, scaleY, false))
    return { char: ' ', bold: false };
  // the sample narrows the candidates; the whole cell must match (no stray dots, the right scale)
  for (const bold of [false, true]) {
    for (const char of (bold ? BOLD_BY_BITS : BY_BITS).get(bits) ?? []) {
      if (cellMatches(bitmap, x, char, scaleX, scaleY, bold)) return { char, bold };
    }
  }
  return undefined;
}

function cellMatches(
  bitmap: Bitmap,
  x: number,
  char: string,
  scaleX: number,
  scaleY: number,
  bold: boolean,
): boolean {
  const expected = newBitmap(CELL_WIDTH * scaleX, bitmap.height);
  if (char !== ' ') drawCell(expected, char, 0, 0, scaleX, scaleY, bold);
  for (let y = 0; y < bitmap.height; y++) {
    for (let dx = 0; dx < expected.width; dx++) {
      if ((bitmap.dots[y * bitmap.width + x + dx] ?? 0) !== expected.dots[y * expected.width + dx])
        return false;
    }
  }
  return true;
}

/** Packs a bitmap into GS v 0 / ESC * raster bytes: rows of whole bytes, MSB = leftmost dot. */
export function packRaster(bitmap: Bitmap): { bytesPerRow: number; data: Buffer } {
  const bytesPerRow = Math.ceil(bitmap.width / 8);
  const data = Buffer.alloc(bytesPerRow * bitmap.height);
  for (let y = 0; y < bitmap.height; y++) {
    for (let x = 0; x < bitmap.width; x++) {
      if (bitmap.dots[y * bitmap.width + x]) data[y * bytesPerRow + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
  return { bytesPerRow, data };
}

export function unpackRaster(bytesPerRow: number, height: number, data: Uint8Array): Bitmap {
  const bitmap = newBitmap(bytesPerRow * 8, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < bytesPerRow * 8; x++) {
      if (((data[y * bytesPerRow + (x >> 3)] ?? 0) & (0x80 >> (x & 7))) !== 0)
        bitmap.dots[y * bitmap.width + x] = 1;
    }
  }
  return bitmap;
}

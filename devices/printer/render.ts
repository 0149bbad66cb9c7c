/**
 * Draws a printed receipt as the paper would look (PNG, 1 px per dot, 203 dpi): text cells in the
 * shared font with each character's style, raster images as sent, QR symbols (qrcode builds the
 * module matrix from the stored data, as the printer's firmware would) and bar codes as a stripe.
 */
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { type Bitmap, CELL_HEIGHT, CELL_WIDTH, drawCell, fillRect, newBitmap } from './font.js';
import type { PaperBlock, PrintedCell, PrintedReceipt } from './paper.js';
import type { Align } from './protocol.js';

const MARGIN = 8;

export function renderReceipt(receipt: PrintedReceipt, paperDots: number): Buffer {
  const blocks = receipt.paper.map((block) => drawBlock(block, paperDots));
  const height = blocks.reduce((sum, block) => sum + block.height, 0) + 2 * MARGIN;
  const page = newBitmap(paperDots + 2 * MARGIN, Math.max(height, 1));
  let y = MARGIN;
  for (const block of blocks) {
    blit(page, block.bitmap, MARGIN + offset(block.align, block.bitmap.width, paperDots), y);
    y += block.height;
  }
  return toPng(page);
}

interface Drawn {
  bitmap: Bitmap;
  height: number;
  align: Align;
}

function drawBlock(block: PaperBlock, paperDots: number): Drawn {
  switch (block.kind) {
    case 'line':
      return {
        bitmap: drawLine(block.cells),
        height: CELL_HEIGHT * block.line.height + 6,
        align: block.line.align,
      };
    case 'image':
      return { bitmap: block.bitmap, height: block.bitmap.height, align: block.align };
    case 'qr':
      return drawQr(block.data, block.moduleSize, block.align);
    case 'barcode': {
      const bitmap = newBitmap(Math.min(paperDots, block.data.length * 22), 80);
      for (let x = 0; x < bitmap.width; x += 4) fillRect(bitmap, x, 0, (x / 4) % 3 === 0 ? 1 : 2, 80);
      return { bitmap, height: 90, align: block.align };
    }
    case 'feed':
      return { bitmap: newBitmap(1, 1), height: block.dots, align: 'left' };
  }
}

function drawLine(cells: PrintedCell[]): Bitmap {
  const height = CELL_HEIGHT * Math.max(...cells.map((cell) => cell.height));
  const width = cells.reduce((sum, cell) => sum + CELL_WIDTH * cell.width, 0);
  const bitmap = newBitmap(Math.max(width, 1), height);
  let x = 0;
  for (const cell of cells) {
    const cellWidth = CELL_WIDTH * cell.width;
    const top = height - CELL_HEIGHT * cell.height;
    drawCell(bitmap, cell.chars, x, top, cell.width, cell.height);
    if (cell.bold) drawCell(bitmap, cell.chars, x + 1, top, cell.width, cell.height);
    if (cell.underline > 0) fillRect(bitmap, x, height - cell.underline, cellWidth, cell.underline);
    if (cell.invert) invertRect(bitmap, x, top, cellWidth, CELL_HEIGHT * cell.height);
    x += cellWidth;
  }
  return bitmap;
}

function drawQr(data: string, moduleSize: number, align: Align): Drawn {
  const { modules } = QRCode.create(data, { errorCorrectionLevel: 'M' });
  const quiet = 4 * moduleSize;
  const bitmap = newBitmap(modules.size * moduleSize + 2 * quiet, modules.size * moduleSize + 2 * quiet);
  for (let row = 0; row < modules.size; row++)
    for (let col = 0; col < modules.size; col++)
      if (modules.get(row, col))
        fillRect(bitmap, quiet + col * moduleSize, quiet + row * moduleSize, moduleSize, moduleSize);
  return { bitmap, height: bitmap.height, align };
}

function invertRect(bitmap: Bitmap, x: number, y: number, width: number, height: number): void {
  for (let row = y; row < y + height; row++)
    for (let col = x; col < x + width; col++)
      bitmap.dots[row * bitmap.width + col] = bitmap.dots[row * bitmap.width + col] ? 0 : 1;
}

function offset(align: Align, width: number, paperDots: number): number {
  const spare = Math.max(0, paperDots - width);
  return align === 'center' ? Math.floor(spare / 2) : align === 'right' ? spare : 0;
}

function blit(target: Bitmap, source: Bitmap, x: number, y: number): void {
  for (let row = 0; row < source.height; row++)
    for (let col = 0; col < source.width; col++)
      if (source.dots[row * source.width + col] && x + col < target.width && y + row < target.height)
        target.dots[(y + row) * target.width + x + col] = 1;
}

function toPng(bitmap: Bitmap): Buffer {
  const png = new PNG({
    width: bitmap.width,
    height: bitmap.height,
    colorType: 0,
    inputColorType: 0,
    bitDepth: 8,
  });
  png.data = Buffer.alloc(bitmap.width * bitmap.height * 4);
  for (let i = 0; i < bitmap.dots.length; i++) {
    const shade = bitmap.dots[i] ? 0 : 255;
    png.data.writeUInt32BE(((shade << 24) | (shade << 16) | (shade << 8) | 0xff) >>> 0, i * 4);
  }
  return PNG.sync.write(png, { colorType: 0 });
}

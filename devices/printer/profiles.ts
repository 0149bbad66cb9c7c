/**
 * What a receipt printer model can print, so Vietnamese comes out right on the paper:
 * - `cp1258`: Windows code page 1258 at `table` (Epson firmware with WPC1258: ESC t 52; clones put
 *   it at 27, 32, 35 or 41). CP1258 has only some toned letters precomposed; the rest are a base
 *   letter + a combining tone mark. Only a printer that `composesMarks` strikes the mark over the
 *   letter; others print it in a cell of its own (field reports), so lines needing marks go raster.
 * - `tcvn3`: TCVN-3 at `table` (lower case, precomposed) and `capitalsTable`.
 * - `raster`: no Vietnamese code page; every line is drawn and sent as a GS v 0 image.
 * `kanjiAtPowerOn`: Chinese clones start in Kanji mode, which eats bytes ≥ 0x80 in pairs until
 * FS . cancels it; the encoder always sends FS . after ESC @.
 */
import { z } from 'zod';

export type TextEncoding =
  | { kind: 'cp1258'; table: number; composesMarks: boolean }
  | { kind: 'tcvn3'; table: number; capitalsTable: number }
  | { kind: 'raster' };

export interface PrinterProfile {
  id: PrinterProfileId;
  description: string;
  text: TextEncoding;
  /** printable dots per line (80 mm paper: 576; 58 mm: 384) */
  paperDots: number;
  /** Font A (12×24) characters per line */
  columns: number;
  kanjiAtPowerOn: boolean;
}

export const PRINTER_PROFILE_IDS = [
  'epson-wpc1258',
  'clone-cp1258-uncomposed',
  'clone-tcvn3',
  'raster-80mm',
  'raster-58mm',
] as const;
export type PrinterProfileId = (typeof PRINTER_PROFILE_IDS)[number];
export const PrinterProfileIdSchema = z.enum(PRINTER_PROFILE_IDS);

export const PRINTER_PROFILES: Record<PrinterProfileId, PrinterProfile> = {
  'epson-wpc1258': {
    id: 'epson-wpc1258',
    description: 'Epson TM-T88VI/T20III class: WPC1258 at ESC t 52, tone marks struck over the letter',
    text: { kind: 'cp1258', table: 52, composesMarks: true },
    paperDots: 576,
    columns: 48,
    kanjiAtPowerOn: false,
  },
  'clone-cp1258-uncomposed': {
    id: 'clone-cp1258-uncomposed',
    description: 'clone with CP1258 at ESC t 27 that prints combining tone marks in their own cell',
    text: { kind: 'cp1258', table: 27, composesMarks: false },
    paperDots: 576,
    columns: 48,
    kanjiAtPowerOn: true,
  },
  'clone-tcvn3': {
    id: 'clone-tcvn3',
    description: 'clone with TCVN-3 at ESC t 30 and TCVN-3 capitals at ESC t 31, no CP1258',
    text: { kind: 'tcvn3', table: 30, capitalsTable: 31 },
    paperDots: 576,
    columns: 48,
    kanjiAtPowerOn: true,
  },
  'raster-80mm': {
    id: 'raster-80mm',
    description: 'any ESC/POS printer, 80 mm: every line drawn and sent as a GS v 0 raster image',
    text: { kind: 'raster' },
    paperDots: 576,
    columns: 48,
    kanjiAtPowerOn: false,
  },
  'raster-58mm': {
    id: 'raster-58mm',
    description: 'any ESC/POS printer, 58 mm: every line drawn and sent as a GS v 0 raster image',
    text: { kind: 'raster' },
    paperDots: 384,
    columns: 32,
    kanjiAtPowerOn: false,
  },
};

export function printerProfile(id: PrinterProfileId): PrinterProfile {
  return PRINTER_PROFILES[id];
}

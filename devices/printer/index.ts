export { type PrintConfirmation, type ReceiptPrinter, SerialReceiptPrinter } from './driver.js';
export { PrinterEmulator } from './emulator.js';
export { CP1258_CODE_TABLE, decodeCp1258, encodeCp1258 } from './cp1258.js';
export {
  type Align,
  EscPosDecoder,
  encodeReceipt,
  type PrinterStatus,
  type Receipt,
  type ReceiptItem,
} from './protocol.js';
export { type PrintedLine, type PrintedReceipt, type PrintedSpan, ReceiptAssembler } from './paper.js';
export {
  PRINTER_PROFILE_IDS,
  PRINTER_PROFILES,
  type PrinterProfile,
  type PrinterProfileId,
  PrinterProfileIdSchema,
  printerProfile,
} from './profiles.js';
export { renderReceipt } from './render.js';

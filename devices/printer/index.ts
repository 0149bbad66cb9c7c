export { type ReceiptPrinter, SerialReceiptPrinter } from './driver.js';
export { PrinterEmulator } from './emulator.js';
export { CP1258_CODE_TABLE, decodeCp1258, encodeCp1258 } from './cp1258.js';
export {
  type Align,
  EscPosDecoder,
  encodeReceipt,
  type PrintedLine,
  type PrintedReceipt,
  type PrinterStatus,
  type Receipt,
  ReceiptAssembler,
  type ReceiptItem,
} from './protocol.js';

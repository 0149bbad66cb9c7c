export { type Scanner, SerialScanner } from './driver.js';
export { ScannerEmulator } from './emulator.js';
export { encodeScan, MAX_SCAN_BYTES, ScanDecodeError, ScanDecoder } from './protocol.js';

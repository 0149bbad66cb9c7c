/**
 * The card reader device: PC/SC readers (pcsclite), the pty link to the chip emulator, the chip
 * emulator itself and its test PKI. The card protocol stack lives in src/card.
 */
export { PcscCardReader, PtyCardTransport, PtyChipServer, type CardReaderEvents } from './driver.js';
export { ChipEmulator, type ChipEmulatorOptions, type ChipStatistics } from './emulator.js';
export {
  buildChipImage,
  syntheticJpeg,
  type ChipImage,
  type ChipImageOptions,
  type ChipSigningPki,
} from './chip-image.js';
export { VpcdCard } from './vpcd.js';
export * from './protocol.js';

/**
 * The card reader device: PC/SC readers (pcsclite) and the chip station built on one, the chip
 * emulator and vsmartcard's vpcd link that puts it behind pcscd. The card protocol stack lives in
 * src/card.
 */
export { PcscCardReader, type CardReaderEvents } from './driver.js';
export { PcscChipStation, type PcscChipStationOptions } from './station.js';
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

/** What the runtime may import from the device layer (DESIGN.md: kiosk → devices through here only). */

export * from './scanner/index.js';
export * from './transport/index.js';
export * from './fingerprint/index.js';
export * from './printer/index.js';
export * from './dispenser/index.js';
export * from './gpio/index.js';
export { identifyDevice, type IdentifiedDevice, listSerialPorts, type SerialPortCandidate } from './scan.js';
export { PcscCardReader } from './card-reader/driver.js';
export { ChipEmulator } from './card-reader/emulator.js';
export { buildChipImage, type ChipImage } from './card-reader/chip-image.js';
export { PcscChipStation } from './card-reader/station.js';
export { VpcdCard } from './card-reader/vpcd.js';

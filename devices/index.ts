/** What the runtime may import from the device layer (DESIGN.md: kiosk → devices through here only). */

export * from './scanner/index.js';
export * from './transport/index.js';
export * from './fingerprint/index.js';
export * from './printer/index.js';
export * from './dispenser/index.js';
export * from './gpio/index.js';
export { identifyDevice, type IdentifiedDevice, listSerialPorts, type SerialPortCandidate } from './scan.js';

/** The eMRTD card stack (ICAO 9303 parts 10 and 11), layer by layer; `readCard` is the facade. */
export * from './errors.js';
export type { CardTransport } from './transport.js';
export * from './apdu.js';
export { retailMac, pad, unpad } from './des.js';
export * from './tlv.js';
export * from './sm.js';
export * from './bac.js';
export * from './channel.js';
export * from './files.js';
export * from './mrz.js';
export * from './lds.js';
export * from './sod.js';
export * from './pa.js';
export * from './aa.js';
export * from './reader.js';

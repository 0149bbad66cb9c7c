/** Vietnam CCCD specifics: ID number, front QR, MRZ layout, citizen record → chip fields. */
export * from './errors.js';
export * from './dates.js';
export * from './id-number.js';
export * from './qr.js';
export * from './expiry.js';
export * from './record.js';
export * from './mrz.js';

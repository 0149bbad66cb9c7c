export * from './errors.js';
export { createPtyPair, type PtyPair, PtyUnavailable } from './pty.js';
export { type LinkHealth, SerialConnection, type SerialConnectionOptions } from './serial.js';

export * from './errors.js';
export { createPtyPair, type PtyPair, PtyUnavailable } from './pty.js';
export {
  isReopenableSerial,
  type LinkHealth,
  type ReopenableSerial,
  SerialConnection,
  type SerialConnectionOptions,
  type SerialParams,
} from './serial.js';
export { type FrameDecoder, type ReplyMatcher, RequestChannel, type RequestOptions } from './request.js';
export { sleepUntil, tapWire, WireClock, type WireEvent, type WireTap } from './wire-clock.js';
export { EmulatorPort } from './emulator-port.js';
export { SerialRequestDevice, type SerialDeviceOptions } from './request-device.js';

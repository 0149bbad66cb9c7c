export {
  type FingerprintSensor,
  FingerprintStatusError,
  type MatchResult,
  SerialFingerprintSensor,
  type SerialFingerprintOptions,
} from './driver.js';
export {
  FingerprintEmulator,
  SENSOR_TIMING_MS,
  type SyntheticFinger,
  syntheticFinger,
  syntheticTemplate,
} from './emulator.js';
export * as fingerprintProtocol from './protocol.js';

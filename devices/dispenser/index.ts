export {
  type CardDispenser,
  type DispenserCallOptions,
  type DispenserEvents,
  JohnnyFiveDispenser,
  type JohnnyFiveDispenserOptions,
} from './driver.js';
export { DispenserEmulator, type InjectedFault } from './emulator.js';
export * as dispenserProtocol from './protocol.js';
export { type CardSensors, MECHANICS_TIMING_MS, type MechanicsState } from './protocol.js';

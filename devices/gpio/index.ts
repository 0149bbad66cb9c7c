export {
  type GpioBackend,
  type GpioInputName,
  type GpioLine,
  KioskGpio,
  type KioskGpioConfig,
  onoffBackend,
  readGpioChips,
} from './driver.js';
export { FakeGpio, writeFakeSysfs } from './emulator.js';
export { bcmToLine, Debouncer, type GpioChip, GpioMappingError, headerChip } from './protocol.js';

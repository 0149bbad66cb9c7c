export type { EnvSetting } from './load.js';
export {
  applyEnvOverrides,
  ConfigError,
  envSettings,
  formatIssues,
  loadConfigFile,
  parseConfig,
} from './load.js';
export type { DevicesConfig, KioskConfig, KioskConfigInput, SerialDeviceConfig } from './schema.js';
export { BAUD_RATES, KioskConfigSchema } from './schema.js';

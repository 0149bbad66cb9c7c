/** What the rest of the code may import from the fleet room. */
export {
  FleetService,
  type FleetServiceOptions,
  type KioskHealthVerdict,
  MAX_COMMAND_LIFETIME_MS,
} from './fleet.js';
export {
  changedPaths,
  checkPushableSettings,
  effectiveConfig,
  InvalidSettings,
  mergeSettings,
  requiresRestart,
} from './settings.js';
export * from './signing.js';
export {
  isKioskCommand,
  KIOSK_COMMANDS,
  type KioskCommandName,
  OPS_SENDER,
  signCommand,
  signConfig,
  type SignCommandOptions,
  type SignConfigOptions,
} from './ops.js';
export { type AppliedLayers, withPushedSettings } from './persisted.js';
export { chooseBootConfig, configProbationPath } from './config-probation.js';
export * from './probation.js';

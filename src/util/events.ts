import type { HealthState } from './lifecycle.js';

export type DeviceHealthState = 'ok' | 'degraded' | 'missing' | 'disabled';

/** Events that cross rooms on the runtime's one bus (created in main.ts). */
export interface RuntimeEvents {
  'device.health': { device: string; state: DeviceHealthState; detail?: string };
  'scanner.scan': { text: string; at: number };
  'link.state': { state: HealthState; detail?: string };
  /** the store's health changed; `acceptsNewSessions` false means refuse new citizen sessions */
  'store.health': { state: HealthState; detail?: string; acceptsNewSessions: boolean };
}

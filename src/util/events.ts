import type { HealthState } from './lifecycle.js';

export type DeviceHealthState = 'ok' | 'degraded' | 'missing' | 'disabled';

/** Events that cross rooms on the runtime's one bus (created in main.ts). */
export interface RuntimeEvents {
  'device.health': { device: string; state: DeviceHealthState; detail?: string };
  'scanner.scan': { text: string; at: number };
  'link.state': { state: HealthState; detail?: string };
  /** an inbound message failed on every try and was set aside (src/link/set-aside.ts) */
  'inbound.setAside': Record<string, never>;
  /** the store's health changed; `acceptsNewSessions` false means refuse new citizen sessions */
  'store.health': { state: HealthState; detail?: string; acceptsNewSessions: boolean };
  /** operations locked (true) or unlocked the kiosk for citizens (the session layer reacts) */
  'fleet.lock': { locked: boolean; by: string };
  /** operations asked for a restart: main stops the runtime and exits for systemd to restart it */
  'fleet.restart': { by: string };
  /** operations asked to purge citizen sessions and their secrets (the session layer reacts) */
  'fleet.purgeSessions': { by: string };
  /** a pushed configuration was applied or rolled back; `restartRequired` lists settings waiting for a restart */
  'config.applied': { version: number; settings: Record<string, unknown>; restartRequired: string[] };
  /** pushed settings that take effect at start were recorded: the kiosk restarts at idle (runtime/restart.ts) */
  'config.restartPending': { paths: string[] };
}

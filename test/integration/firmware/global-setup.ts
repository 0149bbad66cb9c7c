import { buildFirmwareAndSim } from './firmware-sim.js';

/** Builds the firmware and the simavr host program once, before the test files that run them. */
export function setup(): void {
  buildFirmwareAndSim();
}

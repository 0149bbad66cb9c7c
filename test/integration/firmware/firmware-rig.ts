import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIRMWARE_ELF, type FirmwareSim, startFirmwareSim } from './firmware-sim.js';

/**
 * The AVR firmware in simavr as a board for the dispenser driver's conformance suite
 * (test/conformance/dispenser.suite.ts on issue-4, `DispenserBoardRig`): after the merge,
 * `dispenserConformance('AVR firmware in simavr', firmwareDispenserRig)` runs the same suite
 * against the firmware as against the Node emulator. Typed structurally so that this branch does
 * not need the suite to build.
 *
 * The path is a symlink the simulator keeps pointing at its pty; unplug stops the simulator (the
 * pty disappears), replug starts a fresh one — a freshly powered board — at the same path.
 */
export interface FirmwareDispenserRig {
  path: string;
  loadCards(slots: number[]): void;
  takeCard(): void;
  injectFault(fault: 'jam' | 'motor-timeout'): void;
  powerOff(): Promise<void>;
  unplug(): Promise<void>;
  replug(): Promise<void>;
  close(): Promise<void>;
  /** the simulator running now */
  readonly sim: FirmwareSim;
}

export async function firmwareDispenserRig(): Promise<FirmwareDispenserRig> {
  const dir = mkdtempSync(join(tmpdir(), 'dispenser-firmware-'));
  const path = join(dir, 'dispenser');
  let sim = await startFirmwareSim(FIRMWARE_ELF, { link: path });
  return {
    path,
    get sim() {
      return sim;
    },
    // PROTOCOL.md gives the firmware no sensor for a card in a vault slot or at the station: it
    // cannot know which slots hold cards, so loading them changes nothing (see the firmware README).
    loadCards: () => undefined,
    takeCard: () => sim.takeCard(),
    injectFault: (fault) => sim.injectFault(fault),
    async powerOff() {
      const from = sim.lines().length;
      sim.control('power-off');
      await sim.waitForLine(/^powered off$/, 5000, from);
    },
    unplug: () => sim.stop(),
    async replug() {
      sim = await startFirmwareSim(FIRMWARE_ELF, { link: path });
    },
    async close() {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

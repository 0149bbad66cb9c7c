import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispenserBoardRig } from '../../conformance/dispenser.suite.js';
import { FIRMWARE_ELF, type FirmwareSim, startFirmwareSim } from './firmware-sim.js';

/**
 * The AVR firmware in simavr as a board for the dispenser driver's conformance suite
 * (test/conformance/dispenser.suite.ts, `DispenserBoardRig`): conformance.test.ts runs the same
 * suite against the firmware as test/integration/devices/dispenser.test.ts against the Node
 * emulator. Cards are loaded into the simulated vault; a move from an empty slot reaches the chip
 * station with nothing there, and the firmware's card-at-station sensor (D9) says so.
 *
 * The path is a symlink the simulator keeps pointing at its pty; unplug stops the simulator (the
 * pty disappears), replug starts a fresh one — a freshly powered board — at the same path.
 */
export interface FirmwareDispenserRig extends DispenserBoardRig {
  /** the simulator running now */
  readonly sim: FirmwareSim;
}

/** A simulator whose vault holds cards in exactly these slots (the simulator starts with all full). */
async function startWithVault(link: string, slots: number[]): Promise<FirmwareSim> {
  const sim = await startFirmwareSim(FIRMWARE_ELF, { link });
  const from = sim.lines().length;
  sim.control('empty all');
  for (const slot of slots) sim.control(`load ${slot}`);
  await sim.waitForLine(slots.length ? new RegExp(`^loaded ${slots.at(-1)}$`) : /^emptied all$/, 5000, from);
  return sim;
}

/** The slots that hold a card now, as the simulated mechanics see them. */
async function loadedSlots(sim: FirmwareSim): Promise<number[]> {
  const from = sim.lines().length;
  sim.control('slots');
  const index = await sim.waitForLine(/^slots( [\d,]+)?$/, 5000, from); // before lines(): a copy
  const line = sim.lines()[index] ?? '';
  return line.length > 'slots '.length ? line.slice('slots '.length).split(',').map(Number) : [];
}

export async function firmwareDispenserRig(): Promise<FirmwareDispenserRig> {
  const dir = mkdtempSync(join(tmpdir(), 'dispenser-firmware-'));
  const path = join(dir, 'dispenser');
  // Like the Node emulator, the rig's vault starts empty; the cards in it outlive a power cycle.
  let vault: number[] = [];
  let sim = await startWithVault(path, vault);
  return {
    path,
    get sim() {
      return sim;
    },
    loadCards(slots) {
      for (const slot of slots) sim.control(`load ${slot}`);
    },
    takeCard: () => sim.takeCard(),
    injectFault: (fault) => sim.injectFault(fault),
    async reset() {
      const from = sim.lines().length;
      sim.control('reset');
      await sim.waitForLine(/^reset/, 5000, from);
    },
    async powerOff() {
      const from = sim.lines().length;
      sim.control('power-off');
      await sim.waitForLine(/^powered off$/, 5000, from);
    },
    async unplug() {
      vault = await loadedSlots(sim).catch(() => vault); // a simulator that died keeps the last known vault
      await sim.stop();
    },
    async replug() {
      sim = await startWithVault(path, vault);
    },
    async close() {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

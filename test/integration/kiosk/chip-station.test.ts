import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CITIZENS } from '../../../src/demo/citizens.js';
import { startPickupWorld, type PickupWorld, until } from './pickup-world.js';

/**
 * Issue 11 "What it must show" 1: the chip station's PC/SC reader (the rig's own pcscd with the
 * vpcd driver, the chip emulator as the virtual card that the rig inserts when the dispenser
 * emulator holds a card at its station) taken away in the middle of a chip read.
 */
const MAI = DEMO_CITIZENS[0]!;
let world: PickupWorld;

beforeAll(async () => {
  world = await startPickupWorld();
}, 90_000);
afterAll(async () => {
  await world?.stop();
});

const sessions = () => world.runtime.sessions;
const cardReaderHealth = () => world.runtime.devices.summary().cardReader;

async function phase(expected: string, timeoutMs = 20_000): Promise<void> {
  await until(() => sessions().phase === expected, timeoutMs, `phase ${expected} (now ${sessions().phase})`);
}

describe('PC/SC chip station', () => {
  it('reader removed mid-read: card back in its slot, health missing, recovers on replug without a restart', async () => {
    expect(cardReaderHealth()).toBe('ok');
    // The reader goes away while the kiosk reads the chip: at the chip's second READ BINARY.
    const chip = world.rig.chips.get(0)!;
    const answer = chip.process.bind(chip);
    let pulled: Promise<void> | undefined;
    const readsBefore = chip.stats.readBinary; // the vault load read this chip already
    chip.process = (command) => {
      const response = answer(command);
      if (!pulled && chip.stats.readBinary === readsBefore + 2)
        pulled = world.rig.control('unplug', 'cardReader');
      return response;
    };
    expect(world.rig.dispenser.slots.has(0)).toBe(true);
    await world.rig.citizenControl('finger', [MAI.record.idNumber]);
    sessions().handle({ type: 'start', flow: 'pickup' });
    sessions().handle({ type: 'enter-id', idNumber: MAI.record.idNumber });
    await until(() => pulled !== undefined, 20_000, 'the chip read reaching READ BINARY');
    await pulled;
    chip.process = answer;

    // the read fails, the session parks the card back in slot 0, and the reader counts as missing
    await until(() => cardReaderHealth() === 'missing', 10_000, 'cardReader missing');
    await until(
      async () => (await world.runtime.vault.card(MAI.pickupId))?.state === 'in-slot',
      20_000,
      'card back in its slot',
    );
    expect(await world.runtime.vault.card(MAI.pickupId)).toEqual({ state: 'in-slot', slot: 0 });
    expect(world.rig.dispenser.slots.has(0)).toBe(true);
    expect(world.rig.dispenser.stationSlot).toBeUndefined();
    expect(world.rig.dispenser.mechanicsState).toBe(0);
    // no session starts without the chip station
    if (sessions().phase !== 'out-of-service') sessions().handle({ type: 'confirm' });
    await phase('out-of-service');
    expect(sessions().current().outOfService?.devices).toContain('cardReader');

    // Replugged (pcscd started again): the same runtime sees the reader and serves a pickup.
    await world.rig.control('replug', 'cardReader');
    await until(() => cardReaderHealth() === 'ok', 20_000, 'cardReader ok again');
    await phase('attract');
    await world.rig.citizenControl('finger', [MAI.record.idNumber]);
    sessions().handle({ type: 'start', flow: 'pickup' });
    sessions().handle({ type: 'enter-id', idNumber: MAI.record.idNumber });
    await phase('take-card');
    expect(await world.rig.citizenControl('take', [])).toBe('ok');
    await phase('receipt');
    expect(await world.runtime.vault.card(MAI.pickupId)).toEqual({ state: 'dispensed', slot: null });
  });

  it('survives a pcscd restart: the reader comes back in the same runtime and the next pickup reads the chip', async () => {
    const HUNG = DEMO_CITIZENS[2]!;
    let wentMissing = false;
    world.runtime.bus.on('chip-station-test', 'device.health', ({ device, state }) => {
      if (device === 'cardReader' && state === 'missing') wentMissing = true;
    });
    await world.rig.chipStation.pcscd.restart();
    await until(() => wentMissing && cardReaderHealth() === 'ok', 20_000, 'cardReader missing, then ok');
    world.runtime.bus.off('chip-station-test');
    await phase('attract');
    await world.rig.citizenControl('finger', [HUNG.record.idNumber]);
    sessions().handle({ type: 'start', flow: 'pickup' });
    sessions().handle({ type: 'enter-id', idNumber: HUNG.record.idNumber });
    await phase('take-card');
    expect(await world.rig.citizenControl('take', [])).toBe('ok');
    await phase('receipt');
    expect(await world.runtime.vault.card(HUNG.pickupId)).toEqual({ state: 'dispensed', slot: null });
  });
});

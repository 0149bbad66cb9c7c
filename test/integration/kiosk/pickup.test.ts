import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { DEMO_CITIZENS } from '../../../src/demo/citizens.js';
import { capturingLogger } from '../../helpers/logs.js';
import { KIOSK_ID, type PickupWorld, startPickupWorld, until, wrongFingerWithLifts } from './pickup-world.js';

/**
 * Issue 6 "What it must show" 2 and 5, at the orchestrator level: the session controller driven as
 * the UI server drives it, the real drivers over ptys to the emulators, the real store and link.
 * One world, scenarios in sequence on the three staged citizens (slot = index in DEMO_CITIZENS).
 */
const [MAI, ANH, HUNG] = DEMO_CITIZENS as [
  (typeof DEMO_CITIZENS)[0],
  (typeof DEMO_CITIZENS)[0],
  (typeof DEMO_CITIZENS)[0],
];

let world: PickupWorld;
const kioskLog = capturingLogger('debug');
const rigLog = capturingLogger('debug');

beforeAll(async () => {
  world = await startPickupWorld({ log: kioskLog.log, rigLog: rigLog.log });
}, 90_000);
afterAll(async () => {
  if (process.env.DEBUG_SESSIONS)
    process.stdout.write(
      kioskLog
        .lines()
        .filter((line) => /"level":(40|50|60)/.test(line))
        .join('\n'),
    );
  await world?.stop();
});

function sessions() {
  return world.runtime.sessions;
}

async function phase(expected: string, timeoutMs = 15_000): Promise<void> {
  await until(() => sessions().phase === expected, timeoutMs, `phase ${expected} (now ${sessions().phase})`);
}

async function backToAttract(): Promise<void> {
  if (sessions().phase !== 'attract') sessions().handle({ type: 'confirm' });
  await phase('attract');
}

async function registryEvents(type: string) {
  await world.rig.registry.settled();
  return (await world.rig.registry.events(KIOSK_ID)).filter((event) => event.type === type);
}

async function startPickup(idNumber: string): Promise<void> {
  sessions().handle({ type: 'start', flow: 'pickup' });
  sessions().handle({ type: 'enter-id', idNumber });
}

describe('pickup sessions against the emulated kiosk', () => {
  it('three wrong fingers, lifted in between → referral with a reference, nothing dispensed, the card stays in its slot', async () => {
    await world.rig.citizenControl('finger', ['wrong']);
    const views: string[] = [];
    const off = sessions().subscribe((view) => views.push(`${view.screen}:${view.attemptsLeft ?? ''}`));
    await startPickup(ANH.record.idNumber);
    await wrongFingerWithLifts(world, 3);
    await phase('referral');
    await until(() => sessions().current().referenceCode !== undefined, 5000, 'reference code');
    expect(sessions().current().referenceCode).toMatch(/^S-[0-9A-Z]{8}$/);
    off();
    expect(sessions().current()).toMatchObject({
      screen: 'referral',
      messageKey: 'referral.finger-attempts',
    });
    expect(views).toEqual(expect.arrayContaining(['finger:3', 'finger:2', 'finger:1', 'referral:']));
    expect(await world.runtime.vault.card(ANH.pickupId)).toEqual({ state: 'in-slot', slot: 1 });
    expect(world.rig.dispenser.slots.has(1)).toBe(true);
    expect(world.rig.dispenser.mechanicsState).toBe(0); // idle: the card never moved
    await backToAttract();
  });

  it('a pickup cancelled while the sensor reads, then started again with no finger: no match, nothing moves', async () => {
    // Regression: the late answer to the cancelled sensor read was taken for the next session's,
    // once presenting a card with no finger on the sensor.
    await world.rig.citizenControl('finger', ['none']);
    // cancel at several moments of the sensor's poll cycle, so one lands while a capture is in flight
    for (const cancelAfterMs of [120, 260, 410, 530]) {
      await startPickup(ANH.record.idNumber);
      await phase('finger');
      await new Promise((resolve) => setTimeout(resolve, cancelAfterMs));
      sessions().handle({ type: 'cancel' });
      await phase('attract');
      const screens: string[] = [];
      const off = sessions().subscribe((view) => screens.push(`${view.screen}:${view.attemptsLeft ?? ''}`));
      await startPickup(ANH.record.idNumber);
      await phase('finger');
      await new Promise((resolve) => setTimeout(resolve, 1200));
      off();
      // the three misses of the test above are counted for Anh's pickup across sessions (issue 12):
      // 2 of the 5 before the lock are left; cancelled reads and no finger count nothing
      expect(screens.filter((screen) => !screen.startsWith('identify'))).toEqual(['finger:2']);
      expect(world.rig.dispenser.mechanicsState).toBe(0);
      sessions().handle({ type: 'cancel' });
      await phase('attract');
    }
  });

  it("another citizen's chip in the slot → card back in the vault, fault event, referral", async () => {
    const original = world.rig.chips.get(2);
    world.rig.chips.set(2, world.rig.chips.get(1)!); // Anh's card sits in Hùng's slot
    try {
      await world.rig.citizenControl('finger', [HUNG.record.idNumber]);
      await startPickup(HUNG.record.idNumber);
      await phase('referral', 20_000);
      expect(sessions().current().messageKey).toBe('referral.card-check-failed');
      expect(await world.runtime.vault.card(HUNG.pickupId)).toEqual({ state: 'in-slot', slot: 2 });
      expect(world.rig.dispenser.slots.has(2)).toBe(true);
      expect(world.rig.dispenser.captured).toBe(0);
      await until(async () => (await registryEvents('fault.pickup')).length === 1, 10_000, 'fault event');
      expect((await registryEvents('fault.pickup'))[0]?.body).toEqual({
        pickupId: HUNG.pickupId,
        fault: 'chip-mismatch',
        card: 'in-slot',
      });
      expect(await registryEvents('pickup.completed')).toEqual([]);
    } finally {
      world.rig.chips.set(2, original!);
    }
    await backToAttract();
  });

  it('a full pickup: card dispensed, pickup.completed once, receipt printed; no PII in logs or on disk', async () => {
    await world.rig.citizenControl('finger', [MAI.record.idNumber]);
    const printed = world.rig.printer.receipts.length;
    await startPickup(MAI.record.idNumber);
    await phase('take-card', 20_000);
    expect(sessions().current()).toMatchObject({ screen: 'take-card', maskedId: '001*******45' });
    expect(sessions().current().countdown?.totalMs).toBe(5000);
    expect(await world.runtime.vault.card(MAI.pickupId)).toEqual({ state: 'in-tray', slot: 0 });
    expect(await world.rig.citizenControl('take', [])).toBe('ok');
    await phase('receipt');
    expect(sessions().current().receiptCode).toMatch(/^R-[0-9A-Z]{8}$/);
    expect(await world.runtime.vault.card(MAI.pickupId)).toEqual({ state: 'dispensed', slot: null });
    await until(
      async () => (await registryEvents('pickup.completed')).length === 1,
      10_000,
      'completion event',
    );
    expect((await registryEvents('pickup.completed'))[0]?.body).toEqual({ pickupId: MAI.pickupId, slot: 0 });
    expect(await world.rig.registry.citizens.pickupState(MAI.pickupId)).toBe('completed');
    await until(() => world.rig.printer.receipts.length === printed + 1, 5000, 'receipt');
    // The vault's chips are PACE-only (issue 16): the pickup opened this one with PACE-CAN, ran
    // Chip Authentication, and never tried BAC.
    const chip = world.rig.chips.get(0)!.protocols;
    expect(chip.bac).toBe(0);
    expect(chip.pace).toBeGreaterThan(0);
    expect(chip.chipAuthentication).toBeGreaterThan(0); // the vault load before reads DG1 only, without CA

    // Item 5: the citizen's ID number and name appear nowhere in clear: not in any log line, not
    // in the kiosk's SQLite files (database, WAL), not in its identity directory.
    const secrets = [TRAN_THI_MAI.idNumber, TRAN_THI_MAI.fullName, 'TRAN<<THI<MAI', 'TRAN THI MAI'];
    const logs = kioskLog.text();
    expect(logs.length).toBeGreaterThan(1000);
    for (const secret of secrets) expect(logs).not.toContain(secret);
    const kioskDir = join(world.dataDir, 'kiosk');
    const files = readdirSync(kioskDir).filter((name) => name.startsWith('kiosk.sqlite'));
    expect(files).toContain('kiosk.sqlite');
    for (const name of files) {
      const bytes = readFileSync(join(kioskDir, name));
      for (const secret of secrets)
        expect(bytes.includes(Buffer.from(secret)), `${secret} in ${name}`).toBe(false);
    }
    await backToAttract();
  });

  it('card not taken → retracted to the capture bin, pickup.retracted, slot freed', async () => {
    await world.rig.citizenControl('finger', [ANH.record.idNumber]);
    await startPickup(ANH.record.idNumber);
    await phase('take-card', 20_000);
    // the tray timer (5 s) runs out: "need more time?" (20 s) unanswered, the card is retracted
    await until(() => sessions().current().moreTime === true, 15_000, 'need more time? asked');
    await phase('referral', 40_000);
    expect(sessions().current().messageKey).toBe('referral.card-retracted');
    await until(() => sessions().current().referenceCode !== undefined, 5000, 'reference code');
    expect(await world.runtime.vault.card(ANH.pickupId)).toEqual({ state: 'captured', slot: null });
    expect(world.rig.dispenser.captured).toBe(1);
    expect(world.rig.dispenser.slots.has(1)).toBe(false);
    await until(
      async () => (await registryEvents('pickup.retracted')).length === 1,
      10_000,
      'retracted event',
    );
    expect((await registryEvents('pickup.retracted'))[0]?.body).toEqual({
      pickupId: ANH.pickupId,
      slot: 1,
      reason: 'not-taken',
    });
    await backToAttract();
  });

  it('a device unplugged mid-session → card to the capture bin, out of service; back when replugged', async () => {
    await world.rig.citizenControl('finger', [HUNG.record.idNumber]);
    await startPickup(HUNG.record.idNumber);
    await phase('take-card', 20_000);
    await world.rig.control('unplug', 'fingerprint');
    await phase('out-of-service', 15_000);
    expect(sessions().current().outOfService).toEqual({
      reasonKey: 'out-of-service.device-missing',
      devices: ['fingerprint'],
    });
    expect(await world.runtime.vault.card(HUNG.pickupId)).toEqual({ state: 'captured', slot: null });
    expect(world.rig.dispenser.mechanicsState).toBe(0);
    expect(world.rig.dispenser.captured).toBe(2);
    // a new session is refused while out of service
    sessions().handle({ type: 'start', flow: 'pickup' });
    expect(sessions().phase).toBe('out-of-service');
    await world.rig.control('replug', 'fingerprint');
    await phase('attract', 20_000);
    expect(await world.runtime.vault.inventory()).toMatchObject({
      'in-slot': 0,
      dispensed: 1,
      captured: 2,
      'at-station': 0,
      'in-tray': 0,
    });
  });
  it('a pickup the registry withdraws mid-session: the card stays in its slot, the citizen is told and referred', async () => {
    await world.rig.registry.citizens.stagePickup(KIOSK_ID, 'PK-WITHDRAWN-1', HUNG.record.idNumber);
    await until(async () => (await world.runtime.vault.awaitingLoad()).length === 1, 10_000, 'staged');
    world.rig.dispenser.loadCards([2]);
    expect((await world.runtime.loadVault([2])).loaded).toEqual([{ slot: 2, pickupId: 'PK-WITHDRAWN-1' }]);
    await world.rig.citizenControl('finger', ['none']); // the citizen has not put a finger yet
    await startPickup(HUNG.record.idNumber);
    await phase('finger');
    await world.rig.registry.citizens.withdrawPickup(KIOSK_ID, 'PK-WITHDRAWN-1');
    await until(
      async () =>
        (
          await world.runtime.store
            .read()
            .get<{ state: string }>(`SELECT state FROM vault_manifest WHERE pickup_id = 'PK-WITHDRAWN-1'`)
        )?.state === 'withdrawn',
      10_000,
      'withdrawal applied',
    );
    await world.rig.citizenControl('finger', [HUNG.record.idNumber]); // now the right finger
    await phase('referral', 20_000);
    expect(sessions().current().messageKey).toBe('referral.pickup-withdrawn');
    expect(await world.runtime.vault.card('PK-WITHDRAWN-1')).toEqual({ state: 'in-slot', slot: 2 });
    expect(world.rig.dispenser.slots.has(2)).toBe(true);
    expect(world.rig.dispenser.mechanicsState).toBe(0);
    expect(
      (await registryEvents('pickup.completed')).filter(
        (event) => (event.body as { pickupId?: string }).pickupId === 'PK-WITHDRAWN-1',
      ),
    ).toEqual([]);
    await backToAttract();
    await world.runtime.vault.withdrawCard('PK-WITHDRAWN-1'); // the technician takes it out
  });

  it('a pickup completes with the broker unreachable: everything is local, the event waits in the outbox', async () => {
    await world.rig.registry.citizens.stagePickup(KIOSK_ID, 'PK-OFFLINE-1', MAI.record.idNumber);
    await until(async () => (await world.runtime.vault.awaitingLoad()).length === 1, 10_000, 'staged');
    world.rig.dispenser.loadCards([0]);
    expect((await world.runtime.loadVault([0])).loaded).toEqual([{ slot: 0, pickupId: 'PK-OFFLINE-1' }]);
    await world.runtime.link.stop(); // the kiosk's link to the broker is gone
    expect(world.runtime.link.connected).toBe(false);
    await world.rig.citizenControl('finger', [MAI.record.idNumber]);
    await startPickup(MAI.record.idNumber);
    await phase('take-card', 20_000);
    await world.rig.citizenControl('take', []);
    await phase('receipt');
    expect(await world.runtime.vault.card('PK-OFFLINE-1')).toEqual({ state: 'dispensed', slot: null });
    const waiting = await world.runtime.store.outboxPage(0, 100);
    expect(
      waiting.filter((row) => row.type === 'pickup.completed').map((row) => JSON.parse(row.body)),
    ).toEqual([{ pickupId: 'PK-OFFLINE-1', slot: 0 }]);
  });
});

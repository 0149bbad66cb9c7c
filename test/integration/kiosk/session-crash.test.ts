import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoRig, type DemoRig } from '../../../src/demo/rig.js';
import { DEMO_CITIZENS } from '../../../src/demo/citizens.js';
import { SqliteDatabase } from '../../../src/store/index.js';
import { quietLogger } from '../../helpers/logs.js';
import { ROOT, type Spawned, spawnScript } from '../../helpers/processes.js';
import { kioskConfigInput, until } from './pickup-world.js';

/**
 * Issue 6 "What it must show" 3: the kiosk process is SIGKILLed at each step of a pickup; after a
 * restart the inventory agrees with where the card physically is, no card is counted twice, and
 * the registry holds each pickup event exactly once. The rig (broker, registry, emulators) lives
 * on across the kills, as the world around a kiosk does.
 */
const ALL_STEPS = [
  'looking-up',
  'finger',
  'checking-card',
  'presenting',
  'take-card',
  'completing',
  'receipt',
];
// `npm test` kills at two steps (a card returned or captured, a card dispensed);
// `npm run test:session-crash` at every step.
const STEPS = process.env.SESSION_CRASH_ALL ? ALL_STEPS : ['presenting', 'completing'];
const KIOSK_ID = 'crash-kiosk';
const MAI = DEMO_CITIZENS[0]!;
const FIXTURE = join(ROOT, 'test', 'fixtures', 'pickup-kiosk.ts');

let rig: DemoRig;
let configFile: string;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'session-crash-'));
  rig = await startDemoRig({ dataDir: join(dataDir, 'rig'), brokerPort: 0, log: quietLogger() });
  configFile = join(dataDir, 'kiosk.json');
  writeFileSync(configFile, JSON.stringify(kioskConfigInput(rig, join(dataDir, 'kiosk'), KIOSK_ID)));
  await rig.citizenControl('finger', [MAI.record.idNumber]);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

function kiosk(env: Record<string, string>): Spawned {
  return spawnScript(FIXTURE, [configFile], env);
}

async function loadIntents(): Promise<Array<{ slot: number; phase: string }>> {
  const db = await SqliteDatabase.open(join(dataDir, 'kiosk', 'kiosk.sqlite'), { readOnly: true });
  try {
    return await db.all('SELECT slot, phase FROM vault_load_intents ORDER BY slot');
  } finally {
    await db.close();
  }
}

/** Resolves once the emulated mechanics entered `state` for the `nth` time (polled on the rig's side). */
function mechanicsReach(state: number, nth: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let last = rig.dispenser.mechanicsState;
    const started = Date.now();
    const timer = setInterval(() => {
      const now = rig.dispenser.mechanicsState;
      if (now !== last && now === state) seen++;
      last = now;
      if (seen >= nth) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`mechanics state ${state} (#${nth}) not reached`));
      }
    }, 1);
  });
}

async function cardRow(pickupId: string): Promise<{ state: string; slot: number | null } | undefined> {
  const db = await SqliteDatabase.open(join(dataDir, 'kiosk', 'kiosk.sqlite'), { readOnly: true });
  try {
    return await db.get('SELECT state, slot FROM vault_cards WHERE pickup_id = ?', [pickupId]);
  } finally {
    await db.close();
  }
}

describe('pickup crash consistency', () => {
  it('SIGKILL at every step: inventory matches the mechanics, each event reaches the registry once', async () => {
    let pickupId = '';
    let needsLoad = true;
    let cycle = 0;
    const outcomes: string[] = [];
    for (const step of STEPS) {
      cycle++;
      if (needsLoad) {
        pickupId = `PK-CRASH-${cycle}`;
        rig.dispenser.loadCards([0]); // the technician puts a card into slot 0
        await rig.registry.citizens.stagePickup(KIOSK_ID, pickupId, MAI.record.idNumber);
      }
      const capturedBefore = rig.dispenser.captured;
      const run = kiosk({ ...(needsLoad ? { LOAD_SLOT: '0' } : {}), DRIVE_ID: MAI.record.idNumber });
      let took = false;
      if (step === 'completing' || step === 'receipt') {
        await run.waitFor(/phase=take-card/, 30_000);
        took = rig.dispenser.takeCard();
      }
      await run.waitFor(new RegExp(`phase=${step}\\n`), 30_000);
      run.child.kill('SIGKILL');
      await run.exited;

      // restart: recovery brings the card to safety, the outbox drains
      const again = kiosk({});
      await again.waitFor(/drained/, 40_000);
      again.child.kill('SIGTERM');
      await again.exited;

      const row = await cardRow(pickupId);
      const events = (await rig.registry.events(KIOSK_ID)).filter(
        (event) => (event.body as { pickupId?: string }).pickupId === pickupId,
      );
      const count = (type: string) => events.filter((event) => event.type === type).length;
      expect(['in-slot', 'dispensed', 'captured'], `after a kill at ${step}`).toContain(row?.state);
      if (row?.state === 'in-slot') {
        expect(rig.dispenser.slots.has(0)).toBe(true);
        expect(rig.dispenser.stationSlot).toBeUndefined();
        expect(count('pickup.completed') + count('pickup.retracted')).toBe(0);
      }
      if (row?.state === 'dispensed') {
        expect(took).toBe(true);
        expect(count('pickup.completed')).toBe(1);
        expect(count('pickup.retracted')).toBe(0);
      }
      if (row?.state === 'captured') {
        expect(took).toBe(false);
        expect(rig.dispenser.captured).toBe(capturedBefore + 1);
        expect(count('pickup.retracted')).toBe(1);
        expect(count('pickup.completed')).toBe(0);
      }
      expect(rig.dispenser.mechanicsState).toBe(0); // idle: nothing left at the station or in the tray
      outcomes.push(`${step}:${row?.state}`);
      process.stdout.write(`session crash: killed at ${step} → card ${row?.state}\n`);
      needsLoad = row?.state !== 'in-slot';
    }
    // the kills landed on different outcomes: some cards returned, some dispensed or captured
    expect(new Set(outcomes.map((outcome) => outcome.split(':')[1])).size).toBeGreaterThanOrEqual(2);
    await until(async () => (await rig.registry.eventCounts(KIOSK_ID)).received > 0, 5000);
  }, 600_000);
});

/**
 * Issue 11 "What it must show" 4, vault loading: `kiosk vault load` is SIGKILLed at each step of a
 * load; after a restart the card is back in its slot and either recorded (identified before the
 * kill) or kept as an unidentified load intent — never unaccounted for — and loading the slot again
 * works (before issue 11 a kill left the card at the chip station and every later load failed).
 */
const LOAD_STEPS = [
  { name: 'moving to the station', state: 1, nth: 1 },
  { name: 'at the station, identifying', state: 2, nth: 1 },
  { name: 'moving back to the slot', state: 1, nth: 2 },
  { name: 'back in the slot, recording', state: 0, nth: 1 },
];

describe('vault load crash consistency', () => {
  it('SIGKILL at every step of a load: the card is in its slot, recorded or kept as unidentified; loading again works', async () => {
    const steps = process.env.SESSION_CRASH_ALL ? LOAD_STEPS : LOAD_STEPS.filter((step) => step.state === 2);
    let cycle = 0;
    for (const step of steps) {
      cycle++;
      const slot = 10 + cycle;
      const pickupId = `PK-LOAD-CRASH-${cycle}`;
      await rig.registry.citizens.stagePickup(KIOSK_ID, pickupId, MAI.record.idNumber);
      rig.chips.set(slot, rig.chips.get(0)!); // a card with Mai's chip goes into this slot
      rig.dispenser.loadCards([slot]);
      const run = kiosk({ LOAD_SLOT: String(slot) });
      // after the first move ends, wait for "idle" again (the return move's end)
      if (step.state === 0) await mechanicsReach(1, 2, 30_000);
      await mechanicsReach(step.state, step.nth, 30_000);
      run.child.kill('SIGKILL');
      await run.exited;

      const again = kiosk({});
      await again.waitFor(/drained/, 40_000);
      again.child.kill('SIGTERM');
      await again.exited;
      const row = await cardRow(pickupId);
      const intents = await loadIntents();
      process.stdout.write(
        `load crash: killed ${step.name} → card ${row?.state ?? intents.find((i) => i.slot === slot)?.phase}\n`,
      );
      expect(rig.dispenser.slots.has(slot)).toBe(true);
      expect(rig.dispenser.stationSlot).toBeUndefined();
      expect(rig.dispenser.mechanicsState).toBe(0);
      if (row) {
        expect(row).toEqual({ state: 'in-slot', slot });
        expect(intents.filter((intent) => intent.slot === slot)).toEqual([]);
      } else {
        // not identified before the kill: accounted for as an unidentified card in its slot
        expect(intents.filter((intent) => intent.slot === slot)).toEqual([{ slot, phase: 'unidentified' }]);
        const reload = kiosk({ LOAD_SLOT: String(slot) });
        await reload.waitFor(/loaded=1/, 40_000);
        reload.child.kill('SIGTERM');
        await reload.exited;
        expect(await cardRow(pickupId)).toEqual({ state: 'in-slot', slot });
        expect((await loadIntents()).filter((intent) => intent.slot === slot)).toEqual([]);
      }
      // each identified card was announced once
      await until(
        async () =>
          (await rig.registry.events(KIOSK_ID)).filter(
            (event) =>
              event.type === 'vault.loaded' && (event.body as { pickupId?: string }).pickupId === pickupId,
          ).length === 1,
        15_000,
        'vault.loaded once',
      );
    }
  }, 600_000);
});

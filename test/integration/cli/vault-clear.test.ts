/**
 * `kiosk vault clear`: a technician's way back into service after `fault.inventory` (a card the
 * mechanics left between two stops). The real CLI as a process, on a real store file left as a
 * reset board leaves it: one card recorded at the chip station, the dispenser's journal naming the
 * move. `vault status` names the slot; `vault clear --to bin` records where the card went, tells the
 * registry through the outbox and clears the journal; asking again, or wrongly, is refused plainly.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticTemplate } from '../../../devices/fingerprint/emulator.js';
import { cccdMrzFromRecord } from '../../../src/cccd/mrz.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { MoveJournal } from '../../../src/kiosk/reconcile.js';
import { Vault } from '../../../src/kiosk/vault.js';
import { Store } from '../../../src/store/index.js';
import { loadOrCreateSealingIdentity, seal, sealingIdentityPath } from '../../../src/store/seal.js';
import { quietLogger } from '../../helpers/logs.js';
import { spawnKiosk } from '../../helpers/processes.js';

const SLOT = 3;

function openStore(dataDir: string): Store {
  return new Store({
    file: join(dataDir, 'kiosk.sqlite'),
    synchronous: 'FULL',
    defaultTopic: 'cccd/v1/kiosk/kiosk-0001/events',
    log: quietLogger(),
  });
}

/** A stopped kiosk whose card of SLOT was caught on its way to the chip station. */
async function kioskWithCardAdrift(): Promise<{ config: string; dataDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vault-clear-'));
  const dataDir = join(dir, 'data');
  const config = join(dir, 'kiosk.json');
  writeFileSync(
    config,
    JSON.stringify({ kiosk: { id: 'kiosk-0001' }, mqtt: { url: 'mqtt://127.0.0.1:1' }, dataDir }),
  );
  const identity = loadOrCreateSealingIdentity(sealingIdentityPath(dataDir));
  const store = openStore(dataDir);
  await store.start();
  const vault = new Vault(store, identity);
  const secrets = {
    idNumber: TRAN_THI_MAI.idNumber,
    mrzLines: cccdMrzFromRecord(TRAN_THI_MAI),
    fingerTemplate: syntheticTemplate('mai').toString('base64'),
  };
  const sealed = seal(Buffer.from(JSON.stringify(secrets)), identity.publicKey);
  await store.transaction((tx) => vault.applyManifest(tx, { pickupId: 'p-adrift', action: 'stage', sealed }));
  await vault.loadCard('p-adrift', SLOT);
  await vault.markAtStation('p-adrift');
  await new MoveJournal(store).sent('moveToStation', SLOT);
  await store.stop();
  return { config, dataDir };
}

async function kiosk(...args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnKiosk(args);
  const { code } = await run.exited;
  return { code, output: run.output() };
}

const lastJson = (output: string): unknown => JSON.parse(output.trim().split('\n').at(-1) ?? '{}');

describe('kiosk vault clear', () => {
  it('records a card staff took from between two stops into the bin, tells the registry, and clears the journal', async () => {
    const { config, dataDir } = await kioskWithCardAdrift();
    const before = await kiosk('vault', 'status', '--config', config, '--json');
    expect(before.code, before.output).toBe(0);
    expect(lastJson(before.output)).toMatchObject({ outside: [{ slot: SLOT, state: 'at-station' }] });
    const text = await kiosk('vault', 'status', '--config', config);
    expect(text.output).toContain(`kiosk vault clear --slots ${SLOT} --to slot|bin`);

    const cleared = await kiosk('vault', 'clear', '--slots', String(SLOT), '--to', 'bin', '--config', config);
    expect(cleared.code, cleared.output).toBe(0);
    expect(cleared.output).toContain(`slot ${SLOT}: card of p-adrift recorded in the capture bin`);
    const after = await kiosk('vault', 'status', '--config', config, '--json');
    expect(lastJson(after.output)).toMatchObject({
      outside: [],
      inventory: { captured: 1, 'at-station': 0 },
    });

    const store = openStore(dataDir);
    await store.start();
    try {
      const retracted = (await store.outboxPage(0, 100)).filter((row) => row.type === 'pickup.retracted');
      expect(retracted.map((row) => JSON.parse(row.body) as unknown)).toEqual([
        { pickupId: 'p-adrift', slot: SLOT, reason: 'removed-by-staff' },
      ]);
      expect(await new MoveJournal(store).last()).toBeUndefined();
    } finally {
      await store.stop();
    }

    // once is enough: a second clear of the same slot is refused, and says where to look
    const again = await kiosk('vault', 'clear', '--slots', String(SLOT), '--to', 'bin', '--config', config);
    expect(again.code).toBe(1);
    expect(again.output).toContain(`vault clear: no card of slot ${SLOT} is outside its slot`);
  }, 120_000);

  it('refuses a clear without one slot and a destination, in one line', async () => {
    const { config } = await kioskWithCardAdrift();
    for (const args of [
      ['--slots', String(SLOT)],
      ['--slots', '3,4', '--to', 'slot'],
      ['--to', 'shelf'],
    ]) {
      const refused = await kiosk('vault', 'clear', ...args, '--config', config);
      expect(refused.code, args.join(' ')).not.toBe(0);
      expect(refused.output, args.join(' ')).toMatch(
        /vault clear needs one --slots N and --to slot\|bin|--to.*shelf/,
      );
      expect(refused.output).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 120_000);
});

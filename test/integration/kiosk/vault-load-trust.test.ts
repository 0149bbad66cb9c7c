import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { buildCrl } from '../../../src/demo/trust-list-pki.js';
import { type DemoRig, startDemoRig } from '../../../src/demo/rig.js';
import { readLoadIntents } from '../../../src/kiosk/reconcile.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { quietLogger } from '../../helpers/logs.js';
import { KIOSK_ID, kioskConfigInput, until } from './pickup-world.js';

/**
 * The vault load checks passive authentication against the same trust as the pickup: the pinned
 * CSCAs AND the pushed master lists and CRLs (`card`). With a CRL that revokes the document signer
 * of the vault's chips, no card is identified (pickup-world's loads, without that CRL, identify
 * every one), and each stays in its slot as unidentified for the technician.
 */
const DAY = 86_400_000;
let rig: DemoRig;
let runtime: KioskRuntime;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vault-trust-'));
  rig = await startDemoRig({
    dataDir: join(dataDir, 'rig'),
    brokerPort: 0,
    log: quietLogger(),
    kioskId: KIOSK_ID,
  });
  const now = new Date();
  const crl = buildCrl(
    rig.pki.csca,
    [{ certificate: rig.pki.documentSigner.certificate, date: now, reasonCode: 1 }],
    { thisUpdate: new Date(now.getTime() - DAY), nextUpdate: new Date(now.getTime() + 30 * DAY) },
  );
  const input = kioskConfigInput(rig, join(dataDir, 'kiosk'), KIOSK_ID);
  input.card = { crls: [crl.toString('base64')] };
  runtime = createKioskRuntime(parseConfig(input, 'test'), quietLogger());
  await runtime.start();
  await until(
    () => Object.values(runtime.devices.summary()).every((state) => state === 'ok'),
    15_000,
    'devices ok',
  );
  await until(async () => (await runtime.vault.awaitingLoad()).length === 3, 15_000, 'manifest staged');
});

afterAll(async () => {
  await runtime?.stop().catch(() => undefined);
  await rig?.stop();
});

describe('vault load trust', () => {
  it('a card whose document signer a pushed CRL revokes is not loaded: it stays unidentified', async () => {
    const result = await runtime.loadVault([0]);
    expect(result).toEqual({ loaded: [], unmatched: [0] });
    expect(await runtime.vault.awaitingLoad()).toHaveLength(3);
    expect((await readLoadIntents(runtime.store)).map(({ slot, phase }) => ({ slot, phase }))).toEqual([
      { slot: 0, phase: 'unidentified' },
    ]);
    expect(rig.dispenser.slots.has(0)).toBe(true);
  }, 60_000);
});

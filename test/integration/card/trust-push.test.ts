import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signConfig } from '../../../src/fleet/index.js';
import { type Envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import {
  buildCrl,
  buildMasterList,
  issueForeignCsca,
  issueMasterListSigner,
} from '../../../src/demo/trust-list-pki.js';
import { createTestPki } from '../../../src/demo/test-pki.js';
import { type Received } from '../../helpers/mqtt-watch.js';
import { spawnKiosk } from '../../helpers/processes.js';
import { startFleetRig, until } from '../fleet/fleet-rig.js';

/**
 * Operations push the trust list (master lists, CRLs, access policy) as signed configuration over
 * Mosquitto; the kiosk applies it only when signed by a pinned ops key, and `kiosk card trust`
 * shows what it now trusts and revokes.
 */
const kioskId = `trust-${process.pid}`;
const DAY = 86_400_000;

describe('the trust list as signed configuration', () => {
  let rig: Awaited<ReturnType<typeof startFleetRig>>;
  const dir = mkdtempSync(join(tmpdir(), 'kiosk-trust-'));
  const pki = createTestPki();
  const now = new Date();
  const signer = issueMasterListSigner(pki.csca, {
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + 365 * DAY),
  });
  const masterList = buildMasterList([pki.csca.certificate, issueForeignCsca('UT').certificate], signer);
  const crl = buildCrl(
    pki.csca,
    [{ certificate: pki.documentSigner.certificate, date: now, reasonCode: 1 }],
    {
      thisUpdate: new Date(now.getTime() - DAY),
      nextUpdate: new Date(now.getTime() + 30 * DAY),
    },
  );
  const settings = {
    card: {
      accessPolicy: 'require-pace',
      masterLists: [masterList.toString('base64')],
      crls: [crl.toString('base64')],
    },
  };

  beforeAll(async () => {
    const pem = join(dir, 'csca.pem');
    writeFileSync(pem, pki.trustListPem);
    rig = await startFleetRig(kioskId, { sessions: { trustList: pem } });
  });
  afterAll(async () => {
    await rig?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function push(
    message: Envelope,
  ): Promise<{ status: string; reason?: string; restartRequired?: string[] }> {
    const from = rig.events.received.length;
    await rig.client.publishAsync(topics.config(kioskId), JSON.stringify(message), { qos: 1 });
    const hit: Received = await rig.events.waitFor(
      (received) => {
        const parsed = JSON.parse(received.payload) as Envelope<{ configId: string }>;
        return parsed.type === 'config.result' && parsed.body.configId === message.id;
      },
      10_000,
      from,
    );
    return (
      JSON.parse(hit.payload) as Envelope<{ status: string; reason?: string; restartRequired?: string[] }>
    ).body;
  }

  it('refuses, unanswered, a trust list signed by a key operations did not pin', async () => {
    const ledger = rig.runtime.fleet.refusals.totals;
    const before = new Map(ledger);
    const message = signConfig({ version: 1, kioskId, settings, key: rig.strangerKey });
    await rig.client.publishAsync(topics.config(kioskId), JSON.stringify(message), { qos: 1 });
    let reason: string | undefined;
    await until(() => {
      reason = [...ledger].find(([key, count]) => count > (before.get(key) ?? 0))?.[0];
      return reason !== undefined;
    });
    expect(reason).toBe('unknown-key');
    expect(rig.runtime.fleet.config.card.masterLists).toEqual([]);
  });

  it('applies a signed trust list (for the next start) and `kiosk card trust` shows it', async () => {
    const result = await push(signConfig({ version: 2, kioskId, settings, key: rig.opsKey }));
    // recorded, and in effect once the kiosk restarted at idle (the trust list is built at start)
    expect(result.status).toBe('pending-restart');
    expect(result.restartRequired).toEqual(expect.arrayContaining(['card.masterLists', 'card.crls']));
    const configFile = join(dir, 'kiosk.json');
    writeFileSync(configFile, JSON.stringify({ ...rig.config, card: undefined }));
    const cli = spawnKiosk(['card', 'trust', '--config', configFile]);
    expect((await cli.exited).code).toBe(0);
    const out = cli.output();
    expect(out).toContain('access policy: require-pace');
    expect(out).toContain('CSCAs trusted: 2');
    expect(out).toContain('master lists: 1');
    expect(out).toMatch(/1 revoked/);
  });
});

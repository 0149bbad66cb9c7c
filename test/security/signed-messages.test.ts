/**
 * Issue 12, "Why" items 1, 4, 8 and 9: forged, misaddressed, replayed, expired, altered, unsigned,
 * wrongly signed and malformed messages against `kiosk start` (the real process) on Mosquitto with
 * the deploy/ configuration and ACL (kiosk-process.ts). Under that ACL only a service identity may
 * write a kiosk's topics, so the forger is one: the `registry-2` worker's certificate for manifest
 * entries and update statuses, the `ops` certificate for commands and configs, neither holding the
 * pinned signing key. The broker delivers; the kiosk must refuse. Another kiosk's certificate is
 * tried too, and the broker's ACL stops it first. Each attack records what was OBSERVED: the
 * kiosk's `cmd/result`, its `security.refused` summaries, its config results, the rows in its
 * SQLite file, or the broker's PUBACK reason code.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCommand, signConfig } from '../../src/fleet/index.js';
import { type Envelope, envelope, type MessageBody } from '../../src/link/messages.js';
import { topics } from '../../src/link/topics.js';
import { DEMO_CITIZENS, registryCitizenOf } from '../../src/demo/citizens.js';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import { recordAttack } from './attacks.js';
import { type KioskUnderAttack, nonce, resign, startKioskUnderAttack, until } from './kiosk-process.js';

const FLOOD = Number(process.env.SECURITY_FLOOD_N ?? 20_000);
const FIRST = DEMO_CITIZENS[0];
if (!FIRST) throw new Error('no demo citizen');
const CITIZEN = FIRST;

describe('signed, bound messages (kiosk start, deploy Mosquitto)', () => {
  let k: KioskUnderAttack;
  let registryKeyId: string;
  beforeAll(async () => {
    k = await startKioskUnderAttack('signed');
    await k.registry.citizens.addCitizen(registryCitizenOf(CITIZEN));
    // the registry learns the kiosk's sealing key from its retained status, then stages
    await k.registry.citizens.stagePickup(k.kioskId, CITIZEN.pickupId, CITIZEN.record.idNumber);
    await until(async () => (await k.rows('vault_manifest')) === 1, 20_000, 'real pickup staged');
    const probe = resign(
      envelope('manifest.entry', 'registry', { pickupId: 'x', action: 'withdraw' }),
      k.registry.keys.signing,
    );
    registryKeyId = probe.keyId ?? '';
  });
  afterAll(async () => {
    await k?.stop();
  });

  async function manifestRow(): Promise<{ sealed: string; state: string } | undefined> {
    const db = await SqliteDatabase.open(join(k.dataDir, 'kiosk.sqlite'), { readOnly: true });
    try {
      return await db.get('SELECT sealed, state FROM vault_manifest WHERE pickup_id = ?', [
        CITIZEN?.pickupId,
      ]);
    } finally {
      await db.close();
    }
  }

  /** Sum of `reason` over the `security.refused` summaries since event index `from`. */
  function refusedSince(from: number, reason: string): number {
    return k.events.received
      .slice(from)
      .map((received) => JSON.parse(received.payload) as Envelope<MessageBody<'security.refused'>>)
      .filter((message) => message.type === 'security.refused')
      .reduce((sum, message) => sum + ((message.body.counts as Record<string, number>)[reason] ?? 0), 0);
  }

  /** Publishes on a non-command topic and returns the reasons the next summaries count. */
  /** ids of every message sent by `refusedOn`: none may ever reach the inbox */
  const forgedIds: string[] = [];
  async function refusedOn(topic: string, payloads: string[]): Promise<Record<string, number>> {
    for (const payload of payloads) forgedIds.push(String((JSON.parse(payload) as { id?: unknown }).id));
    const from = k.events.received.length;
    for (const payload of payloads) await k.serviceAttacker.publishAsync(topic, payload, { qos: 1 });
    return k.refusalsAfter(from);
  }

  /** A registry-shaped message with the registry's key id and a signature that is not its. */
  function forgedRegistry<T extends 'manifest.entry' | 'update.status'>(
    type: T,
    body: MessageBody<T>,
  ): string {
    const now = Date.now();
    return JSON.stringify({
      ...envelope(type, 'registry', body, {
        to: k.kioskId,
        nonce: nonce(),
        ts: new Date(now).toISOString(),
        expiresAt: new Date(now + 60_000).toISOString(),
      }),
      keyId: registryKeyId,
      sig: randomBytes(64).toString('base64'),
    });
  }

  /** Publishes with QoS 1 and returns what the broker answered: `accepted` or the PUBACK reason code. */
  const pubackOf = (publishing: Promise<unknown>) =>
    publishing.then(
      () => 'accepted',
      (error: { code?: number }) => `PUBACK 0x${(error.code ?? 0).toString(16)}`,
    );

  it('forged re-stage of a staged pickup: refused and summarised, the stored secrets unchanged', async () => {
    const before = await manifestRow();
    const audit = await k.rows('audit');
    // another kiosk's certificate first: the ACL gives it only its own topics
    const other = await k.otherKiosk(`other-${process.pid}`);
    const byKiosk = await pubackOf(
      other.publishAsync(
        topics.manifest(k.kioskId),
        forgedRegistry('manifest.entry', { pickupId: CITIZEN.pickupId, action: 'stage', sealed: 'AAAA' }),
        { qos: 1 },
      ),
    );
    other.end(true);
    // then a service identity the broker lets write manifests (registry-2), without the registry's key
    const counts = await refusedOn(topics.manifest(k.kioskId), [
      forgedRegistry('manifest.entry', { pickupId: CITIZEN.pickupId, action: 'stage', sealed: 'AAAA' }),
    ]);
    const after = await manifestRow();
    recordAttack({
      name: 'forged-manifest-restage',
      refused: after?.sealed === before?.sealed && after?.state === 'staged',
      reason: Object.keys(counts).join(','),
    });
    // the kiosk saw one forgery, the service identity's: the other kiosk's never reached it
    recordAttack({
      name: 'kiosk-certificate-manifest-to-other-kiosk',
      refused: byKiosk === 'PUBACK 0x87' && counts['bad-signature'] === 1,
      reason: `broker ACL: ${byKiosk}; delivered to the kiosk: ${(counts['bad-signature'] ?? 0) - 1}`,
    });
    expect(byKiosk).toBe('PUBACK 0x87');
    expect(counts['bad-signature']).toBe(1);
    expect(after).toEqual(before);
    expect(await k.rows('audit')).toBe(audit + 1); // the one summary row, nothing of the message
  });

  it("the registry's own re-stage of a staged pickup does not replace its secrets (withdraw first)", async () => {
    const before = await manifestRow();
    const db = await SqliteDatabase.open(join(k.dataDir, 'kiosk.sqlite'), { readOnly: true });
    const refusals = async (): Promise<number> =>
      (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit WHERE action = 'vault.stage-refused'`))
        ?.n ?? 0;
    try {
      const refusedBefore = await refusals();
      await k.registry.citizens.stagePickup(k.kioskId, CITIZEN.pickupId, CITIZEN.record.idNumber);
      // at least one: the registry may re-send a stage of its own (its key announce), each refused alike
      await until(async () => (await refusals()) > refusedBefore, 30_000, 'stage refused and audited');
    } finally {
      await db.close();
    }
    const after = await manifestRow();
    recordAttack({
      name: 'restage-replaces-secrets',
      refused: after?.sealed === before?.sealed,
      reason: 'vault.stage-refused: already-staged',
    });
    expect(after).toEqual(before);
  });

  it('forged withdraw and forged update.status are refused before anything is stored', async () => {
    const withdraw = await refusedOn(topics.manifest(k.kioskId), [
      JSON.stringify(
        resign(
          envelope(
            'manifest.entry',
            'registry',
            { pickupId: CITIZEN.pickupId, action: 'withdraw' },
            { to: k.kioskId, nonce: nonce(), expiresAt: new Date(Date.now() + 60_000).toISOString() },
          ),
          k.strangerKey,
        ),
      ),
    ]);
    recordAttack({
      name: 'forged-manifest-withdraw',
      refused: (await manifestRow())?.state === 'staged',
      reason: Object.keys(withdraw).join(','),
    });
    expect(withdraw['unknown-key']).toBe(1);
    const status = await refusedOn(topics.updates(k.kioskId), [
      forgedRegistry('update.status', { trackingCode: 'TRACK-1', state: 'approved' }),
      JSON.stringify(envelope('update.status', 'registry', { trackingCode: 'TRACK-1', state: 'approved' })),
    ]);
    recordAttack({
      name: 'forged-update-status',
      refused: (status['bad-signature'] ?? 0) + (status.unsigned ?? 0) === 2,
      reason: Object.keys(status).join(','),
    });
    expect(status).toMatchObject({ 'bad-signature': 1, unsigned: 1 });
    // by id, not by count: the real registry may deliver a genuine message meanwhile
    expect(await k.inboxHolds(forgedIds)).toBe(0);
    expect((await manifestRow())?.state).toBe('staged');
  });

  it('commands: for another kiosk, replayed, expired, altered, unsigned, wrong key', async () => {
    const record = (name: string, answer: Envelope<MessageBody<'command.result'>>) =>
      recordAttack({ name, refused: answer.body.status === 'refused', reason: answer.body.reason ?? 'ok' });
    const forOther = await k.command(signCommand({ kioskId: 'other-0002', name: 'lock', key: k.opsKey }));
    record('command-for-another-kiosk', forOther);
    expect(forOther.body).toMatchObject({ status: 'refused', reason: 'other-kiosk' });

    // signed for this kiosk and another: runs here once; every copy of it is refused here, and on
    // the other kiosk it would run once by its own nonce book
    const listed = signCommand({
      kioskId: [k.kioskId, 'other-0002'],
      name: 'collect-diagnostics',
      key: k.opsKey,
    });
    expect((await k.command(listed)).body.status).toBe('ok');
    const replay = await k.command(listed);
    record('fleet-wide-replay', replay);
    expect(replay.body).toMatchObject({ status: 'refused', reason: 'replayed' });

    const expired = await k.command(
      signCommand({
        kioskId: k.kioskId,
        name: 'lock',
        key: k.opsKey,
        now: Date.now() - 120_000,
        expiresInMs: 60_000,
      }),
    );
    record('expired-command', expired);
    expect(expired.body.reason).toBe('expired');

    const altered = signCommand({ kioskId: k.kioskId, name: 'collect-diagnostics', key: k.opsKey });
    const alteredAnswer = await k.command({ ...altered, body: { ...altered.body, name: 'lock' } });
    record('altered-command', alteredAnswer);
    expect(alteredAnswer.body.reason).toBe('bad-signature');

    const unsigned = envelope(
      'command.request',
      'ops',
      { name: 'lock', nonce: nonce() },
      {
        to: k.kioskId,
        nonce: nonce(),
        correlationId: 'unsigned-1',
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
      },
    );
    const unsignedAnswer = await k.command(unsigned);
    record('unsigned-command', unsignedAnswer);
    expect(unsignedAnswer.body.reason).toBe('unsigned');

    const stranger = await k.command(signCommand({ kioskId: k.kioskId, name: 'lock', key: k.strangerKey }));
    record('wrong-key-command', stranger);
    expect(stranger.body.reason).toBe('unknown-key');

    // another kiosk's certificate, a command validly signed by operations: the ACL stops it first
    const other = await k.otherKiosk(`other-${process.pid}`);
    const fromKiosk = signCommand({ kioskId: k.kioskId, name: 'lock', key: k.opsKey });
    const byKiosk = await pubackOf(
      other.publishAsync(topics.cmd(k.kioskId), JSON.stringify(fromKiosk), { qos: 1 }),
    );
    other.end(true);
    // the kiosk answers every command it receives: the next one's answer comes, that one's never
    const from = k.results.received.length;
    expect((await k.ops('collect-diagnostics')).body.status).toBe('ok');
    const answered = k.results.received
      .slice(from)
      .some(
        (received) => (JSON.parse(received.payload) as Envelope).correlationId === fromKiosk.correlationId,
      );
    recordAttack({
      name: 'kiosk-certificate-command-to-other-kiosk',
      refused: byKiosk === 'PUBACK 0x87' && !answered,
      reason: `broker ACL: ${byKiosk}; ${answered ? 'executed by the kiosk' : 'never reached the kiosk'}`,
    });
    expect(byKiosk).toBe('PUBACK 0x87');
    expect(answered).toBe(false);
    const diagnostics = await k.ops('collect-diagnostics');
    expect(diagnostics.body.data?.fleet).toMatchObject({ locked: false });
  });

  it('a downgraded config is refused', async () => {
    const push = async (version: number) => {
      const message = signConfig({ version, kioskId: k.kioskId, settings: {}, key: k.opsKey });
      const from = k.events.received.length;
      await k.opsClient.publishAsync(topics.config(k.kioskId), JSON.stringify(message), {
        qos: 1,
        retain: true,
      });
      const hit = await k.events.waitFor(
        (received) =>
          (JSON.parse(received.payload) as Envelope<{ configId?: string }>).body.configId === message.id,
        15_000,
        from,
      );
      return (JSON.parse(hit.payload) as Envelope<MessageBody<'config.result'>>).body;
    };
    expect((await push(10)).status).toBe('applied');
    const downgrade = await push(9);
    recordAttack({
      name: 'downgraded-config',
      refused: downgrade.status === 'refused',
      reason: downgrade.reason ?? '',
    });
    expect(downgrade).toMatchObject({ status: 'refused', reason: 'not-newer' });
  });

  it('100,000-deep JSON and a lone surrogate get a refusal with its reason, and the kiosk goes on', async () => {
    const from = k.events.received.length;
    const deep = `{"correlationId":"deep-1","body":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const deepAnswer = await k.command(deep, 'deep-1');
    recordAttack({
      name: 'deep-json-command',
      refused: deepAnswer.body.status === 'refused',
      reason: deepAnswer.body.reason ?? '',
    });
    expect(deepAnswer.body).toMatchObject({ status: 'refused', reason: 'malformed' });
    const signed = signCommand({
      kioskId: k.kioskId,
      name: 'set-log-level',
      args: { level: 'info' },
      key: k.opsKey,
    });
    const surrogate = JSON.stringify(signed).replace('"level":"info"', '"level":"\\ud800"');
    const surrogateAnswer = await k.command(surrogate, signed.correlationId);
    recordAttack({
      name: 'lone-surrogate-command',
      refused: surrogateAnswer.body.status === 'refused',
      reason: surrogateAnswer.body.reason ?? '',
    });
    expect(surrogateAnswer.body).toMatchObject({ status: 'refused', reason: 'malformed' });
    // a config claiming the pinned key, deep: counted as malformed, no throw, the kiosk still answers
    const config = signConfig({ version: 11, kioskId: k.kioskId, settings: {}, key: k.opsKey });
    const deepConfig = JSON.stringify(config).replace(
      '"settings":{}',
      `"settings":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    );
    await k.opsClient.publishAsync(topics.config(k.kioskId), deepConfig, { qos: 1 });
    // two malformed commands and this config, summarised in one window or more
    await until(() => refusedSince(from, 'malformed') >= 3, 15_000, 'three malformed refusals summarised');
    recordAttack({
      name: 'deep-json-config',
      refused: refusedSince(from, 'malformed') === 3,
      reason: 'malformed',
    });
    expect(refusedSince(from, 'malformed')).toBe(3);
    expect((await k.ops('collect-diagnostics')).body.status).toBe('ok');
  });

  it(`${FLOOD} forged manifest entries leave no rows: one summary (and audit row) per window`, async () => {
    const tables = ['inbox', 'vault_manifest', 'message_nonces', 'data_updates'] as const;
    const snapshot = async () =>
      JSON.stringify(
        Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await k.rows(t)] as const))),
      );
    // the last command's transaction commits after its answer went out: wait for a settled store
    let before = await snapshot();
    for (let previous = ''; previous !== before;) {
      previous = before;
      await new Promise((done) => setTimeout(done, 300));
      before = await snapshot();
    }
    const auditBefore = await k.rows('audit');
    const from = k.events.received.length;
    const summaries = () =>
      k.events.received
        .slice(from)
        .map((received) => JSON.parse(received.payload) as Envelope<MessageBody<'security.refused'>>)
        .filter((message) => message.type === 'security.refused');
    const counted = () =>
      summaries().reduce((sum, message) => sum + (message.body.counts['bad-signature'] ?? 0), 0);
    for (let start = 0; start < FLOOD; start += 1000) {
      // The deploy broker queues at most max_queued_messages (10,000) for a subscriber and drops the
      // rest: the attacker keeps its backlog below that, so every forgery reaches the kiosk.
      await until(() => counted() >= start - 5000, 60_000, 'the kiosk keeps up with the flood');
      await Promise.all(
        Array.from({ length: Math.min(1000, FLOOD - start) }, (_, i) =>
          k.serviceAttacker.publishAsync(
            topics.manifest(k.kioskId),
            forgedRegistry('manifest.entry', {
              pickupId: `forged-${start + i}`,
              action: 'stage',
              sealed: 'AAAA',
            }),
            { qos: 1 },
          ),
        ),
      );
    }
    await until(() => counted() >= FLOOD, 120_000, 'every forged entry counted');
    const after = await snapshot();
    const auditGrowth = (await k.rows('audit')) - auditBefore;
    recordAttack({
      name: `forged-flood-${FLOOD}`,
      refused: after === before && auditGrowth === summaries().length,
      reason: `rows unchanged; ${summaries().length} summaries`,
    });
    expect(after).toEqual(before);
    expect(auditGrowth).toBe(summaries().length);
    expect(summaries().length).toBeLessThan(FLOOD / 100);
  });
});

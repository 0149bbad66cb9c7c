import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki } from '../../src/demo/test-pki.js';
import { SecureMessagingError } from '../../src/card/errors.js';
import { parseTrustList, verifyPassiveAuthentication } from '../../src/card/pa.js';
import { SecureMessaging } from '../../src/card/sm.js';
import { buildSod } from '../../src/card/sod.js';
import { cccdMrzFromRecord } from '../../src/cccd/index.js';
import type { SessionView } from '../../src/kiosk/view.js';
import { topics } from '../../src/link/topics.js';
import { DEMO_CITIZENS, qrOf } from '../../src/demo/citizens.js';
import { maskIdNumber } from '../../src/util/pii.js';
import { watchTopic } from '../helpers/mqtt-watch.js';
import { spawnKiosk } from '../helpers/processes.js';
import { recordAttack } from './attacks.js';
import {
  type CitizenWorld,
  everyRowAsText,
  filesUnder,
  hits,
  readableByOthers,
  readAll,
  requestWithHost,
  Screen,
  startCitizenWorld,
  upgradeWithHost,
} from './citizen-world.js';

/**
 * Issue 12, the citizen's side, tried as an attacker would against a real `kiosk demo` process
 * (the kiosk runtime, its UI server and SQLite store; the embedded broker, the reference registry
 * and the emulated devices around it): ID probing at the touchscreen, unlimited finger tries,
 * the ID rate limit, DNS rebinding, a listening WebSocket; then "what it must show" 5, the PII
 * scan after a pickup, an update, a referral and a SIGKILL. The card-layer attacks (a SOD without
 * messageDigest, a forged MAC) run on the kiosk's own verification code with the test PKI.
 * Each attack records what was observed (test/security/attacks.ts).
 */
const [MAI, ANH, HUNG] = DEMO_CITIZENS as [
  (typeof DEMO_CITIZENS)[0],
  (typeof DEMO_CITIZENS)[0],
  (typeof DEMO_CITIZENS)[0],
];
/** a valid CCCD number (Hà Nội, male, 1988) for which no card waits */
const UNKNOWN_ID = '001088001234';
const NEW_CONTACT = {
  phone: '0933111222',
  email: 'mai.moi@example.vn',
  residence: { provinceCode: '01', wardCode: '00070', detail: 'Số 99 phố Hàng Đào' },
};

let world: CitizenWorld;
let screen: Screen;
let events: Awaited<ReturnType<typeof watchTopic>>;

beforeAll(async () => {
  world = await startCitizenWorld('sec-citizen');
  screen = await Screen.open(world.uiUrl);
  await screen.waitFor((view) => view.screen === 'attract');
  events = await watchTopic(world.brokerUrl, topics.events(world.kioskId));
}, 90_000);

afterAll(async () => {
  screen?.close();
  await events?.close().catch(() => undefined);
  await world?.stop();
});

/**
 * What a citizen (or an attacker) sees of a session, one entry per distinct screen state. The masked
 * form of the ID the attacker typed is theirs already: it reads `typed`; any other ID would show.
 */
function trail(views: readonly SessionView[], typedId: string): string[] {
  const typed = maskIdNumber(typedId);
  const entries = views.map(
    (view) =>
      `${view.screen}|${view.attemptsLeft ?? ''}|${view.messageKey ?? ''}|${view.maskedId === typed ? 'typed' : (view.maskedId ?? '')}`,
  );
  return entries.filter((entry, index) => entry !== entries[index - 1]);
}

async function backToAttract(): Promise<void> {
  const from = screen.views.length;
  if (screen.current?.screen === 'attract') return;
  screen.send({ type: screen.current?.screen === 'referral' ? 'confirm' : 'cancel' });
  await screen.waitFor((view) => view.screen === 'attract', 30_000, from - 1);
}

/**
 * A pickup identified by `idNumber` with a wrong finger on the sensor, until the referral screen.
 * After each miss the kiosk waits for the finger to be lifted (issue 15): it is lifted, then the
 * wrong finger placed again.
 */
async function wrongFingerPickup(idNumber: string): Promise<string[]> {
  await world.rig({ type: 'finger', who: 'wrong' });
  const from = screen.views.length;
  screen.send({ type: 'start', flow: 'pickup' });
  screen.send({ type: 'enter-id', idNumber });
  for (let cursor = from; ;) {
    const seen = await screen.waitFor(
      (view) => view.screen === 'referral' || view.liftFinger === true,
      90_000,
      cursor,
    );
    cursor = screen.views.indexOf(seen) + 1;
    if (seen.screen === 'referral') break;
    await world.rig({ type: 'finger', who: 'none' });
    const next = await screen.waitFor(
      (view) => view.screen === 'referral' || view.messageKey === 'finger.try-again',
      30_000,
      cursor,
    );
    cursor = screen.views.indexOf(next) + 1;
    if (next.screen === 'referral') break;
    await world.rig({ type: 'finger', who: 'wrong' });
  }
  const seen = trail(screen.views.slice(from), idNumber);
  await backToAttract();
  return seen;
}

function eventsOfType(type: string): Array<{ body: Record<string, unknown> }> {
  return events.received
    .map((message) => JSON.parse(message.payload) as { type: string; body: Record<string, unknown> })
    .filter((event) => event.type === type);
}

/** Every ID number, name (NFC and NFD), MRZ line, phone, e-mail and address the test world holds. */
function personalData(): string[] {
  const values = DEMO_CITIZENS.flatMap((citizen) => {
    const { record, contact } = citizen;
    const mrz = cccdMrzFromRecord(record);
    return [
      record.idNumber,
      record.oldIdNumber ?? '',
      record.fullName,
      record.fatherName ?? '',
      record.motherName ?? '',
      record.placeOfOrigin,
      record.placeOfResidence,
      ...mrz,
      (mrz[2] ?? '').replace(/<+$/, ''), // the MRZ name field on its own
      contact.phone ?? '',
      contact.email ?? '',
      contact.residence?.detail ?? '',
    ];
  });
  values.push(NEW_CONTACT.phone, NEW_CONTACT.email, NEW_CONTACT.residence.detail);
  const nonEmpty = values.filter((value) => value.length >= 5);
  return [...new Set(nonEmpty.flatMap((value) => [value.normalize('NFC'), value.normalize('NFD')]))];
}

/** The PII scan of "what it must show" 5: every file of the kiosk, every row, the logs, the modes. */
async function piiScan(): Promise<{
  fileHits: string[];
  rowHits: string[];
  logHits: string[];
  open: string[];
}> {
  const secrets = personalData();
  const files = filesUnder(world.kioskDir);
  expect(files.some((file) => file.endsWith('kiosk.sqlite'))).toBe(true);
  return {
    fileHits: hits(readAll(files), secrets),
    rowHits: hits(await everyRowAsText(join(world.kioskDir, 'kiosk.sqlite')), secrets),
    logHits: hits(world.demo.output(), secrets),
    open: readableByOthers(world.kioskDir),
  };
}

async function queueDrained(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const health = (await (await fetch(`${world.uiUrl}/healthz`)).json()) as {
      parts: Record<string, { detail?: string }>;
    };
    if (health.parts.store?.detail === 'queue depth 0') return;
    if (Date.now() > deadline) throw new Error(`outbox not drained: ${health.parts.store?.detail}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

describe('citizen-side attacks on a running kiosk', () => {
  it('ID probing: a staged ID and an unknown ID show the same screens, up to the referral', async () => {
    const staged = await wrongFingerPickup(HUNG.record.idNumber);
    const unknown = await wrongFingerPickup(UNKNOWN_ID);
    const indistinguishable = JSON.stringify(staged) === JSON.stringify(unknown);
    const outcome = recordAttack({
      name: 'touchscreen-id-probing',
      refused: indistinguishable,
      reason: indistinguishable
        ? `same ${staged.length} screens for a staged and an unknown ID (decoy finger step)`
        : 'the screens tell a staged ID from an unknown one',
    });
    expect(staged).toContain('finger|3||typed');
    expect(unknown).toEqual(staged);
    expect(outcome.refused).toBe(true);
  });

  it('unlimited finger tries: failures count over sessions, the pickup locks, the registry hears, staff release', async () => {
    const first = await wrongFingerPickup(ANH.record.idNumber); // 3 failures
    const second = await wrongFingerPickup(ANH.record.idNumber); // 2 more: locked at 5
    const third = await wrongFingerPickup(ANH.record.idNumber); // straight to staff
    const locked = await events
      .waitFor(
        (message) => message.payload.includes('"pickup.locked"') && message.payload.includes(ANH.pickupId),
        15_000,
      )
      .then(
        () => true,
        () => false,
      );
    const fingerSteps = (seen: string[]) => seen.filter((entry) => entry.startsWith('finger|')).length;
    const refused = fingerSteps(third) === 0 && locked;
    const outcome = recordAttack({
      name: 'touchscreen-unlimited-finger-tries',
      refused,
      reason: refused
        ? 'pickup locked after 5 failed fingers over 2 sessions; 3rd session referred without a finger step; registry told (pickup.locked)'
        : `3rd session offered ${fingerSteps(third)} finger steps; pickup.locked ${locked ? '' : 'not '}sent`,
    });
    expect(fingerSteps(first)).toBeGreaterThan(0);
    // the attempts the second session offered (a miss, then "lift your finger", share a count)
    const offered = second.filter((entry) => entry.startsWith('finger|')).map((entry) => entry.split('|')[1]);
    expect([...new Set(offered)]).toEqual(['2', '1']);
    expect(eventsOfType('pickup.locked').map((event) => event.body)).toEqual([
      { pickupId: ANH.pickupId, failures: 5 },
    ]);
    expect(outcome.refused).toBe(true);

    // staff release it at the kiosk: the next session gets a finger step again
    const release = spawnKiosk([
      'pickup',
      'release',
      ANH.pickupId,
      '--config',
      join(world.dataDir, 'kiosk.json'),
    ]);
    expect((await release.exited).code).toBe(0);
    const again = await wrongFingerPickup(ANH.record.idNumber);
    expect(again.some((entry) => entry.startsWith('finger|3|'))).toBe(true);
  });

  it('a pickup, then an update: a listening socket gets none of the citizen’s contact data', async () => {
    // the pickup
    await world.rig({ type: 'finger', who: MAI.pickupId });
    let from = screen.views.length;
    screen.send({ type: 'start', flow: 'pickup' });
    screen.send({ type: 'enter-id', idNumber: MAI.record.idNumber });
    await screen.waitFor((view) => view.screen === 'take-card', 60_000, from);
    await world.rig({ type: 'take-card' });
    await screen.waitFor((view) => view.screen === 'receipt', 30_000, from);
    await backToAttract();

    // the update, watched by a second socket that never started anything
    const listener = await Screen.open(world.uiUrl);
    from = screen.views.length;
    screen.send({ type: 'start', flow: 'update' });
    await screen.waitFor((view) => view.screen === 'update-identify', 10_000, from);
    await world.rig({ type: 'scan', text: qrOf(MAI.record) });
    const record = await screen.waitFor((view) => view.screen === 'update-record', 60_000, from);
    listener.send({ type: 'cancel' }); // not its session: ignored
    const contact = [MAI.contact.phone ?? '', MAI.contact.email ?? '', MAI.contact.residence?.detail ?? ''];
    expect(hits(JSON.stringify(record), contact)).toEqual(contact); // the owner sees them: the scan can find them
    screen.send({ type: 'confirm' });
    await screen.waitFor((view) => view.screen === 'update-edit', 10_000, from);
    screen.send({ type: 'edit', fields: NEW_CONTACT });
    await screen.waitFor((view) => view.screen === 'update-confirm', 10_000, from);
    screen.send({ type: 'confirm' });
    await screen.waitFor((view) => view.screen === 'update-done', 30_000, from);
    const leaked = hits(JSON.stringify(listener.views), [
      ...contact,
      NEW_CONTACT.phone,
      NEW_CONTACT.email,
      '*******',
    ]);
    listener.close();
    const outcome = recordAttack({
      name: 'ui-listening-socket-reads-contact-data',
      refused: leaked.length === 0,
      reason:
        leaked.length === 0
          ? `listening socket got ${listener.views.length} views, public part only`
          : `listening socket received ${leaked.length} personal values`,
    });
    expect(leaked).toEqual([]);
    expect(outcome.refused).toBe(true);
    await backToAttract();
  });

  it('PII scan after a pickup, an update and referrals: no personal data in any table, the WAL, the logs; no file open to others', async () => {
    await events.waitFor((message) => message.payload.includes('"update.submitted"'), 20_000);
    await queueDrained();
    const scan = await piiScan();
    expect(scan).toEqual({ fileHits: [], rowHits: [], logHits: [], open: [] });
  });

  it('DNS rebinding: a page of another name pointed at 127.0.0.1 is refused on HTTP and the WebSocket', async () => {
    const { port } = new URL(world.uiUrl);
    const rebound = `rebind.example:${port}`;
    const statuses = await Promise.all(
      ['/', '/healthz', '/api/status', '/demo/citizens'].map((path) =>
        requestWithHost(world.uiUrl, path, rebound),
      ),
    );
    statuses.push(
      await requestWithHost(world.uiUrl, '/demo/control', rebound, {
        method: 'POST',
        body: JSON.stringify({ type: 'unplug', device: 'dispenser' }),
      }),
    );
    const http = recordAttack({
      name: 'ui-dns-rebinding-http',
      refused: statuses.every((status) => status >= 400),
      reason: `HTTP ${[...new Set(statuses)].join(', ')} for Host ${rebound}`,
    });
    const upgrade = await upgradeWithHost(world.uiUrl, rebound);
    const ws = recordAttack({
      name: 'ui-dns-rebinding-websocket',
      refused: upgrade !== 101,
      reason: `upgrade answered ${upgrade}`,
    });
    // the kiosk's own names still work (the check could fail the other way)
    expect(await requestWithHost(world.uiUrl, '/healthz', `127.0.0.1:${port}`)).toBe(200);
    expect(await upgradeWithHost(world.uiUrl, `localhost:${port}`)).toBe(101);
    expect([http.refused, ws.refused]).toEqual([true, true]);
  });

  it('the identification rate limit stops fast ID probing', async () => {
    let limited = false;
    let attempts = 0;
    while (!limited && attempts < 20) {
      attempts++;
      const from = screen.views.length;
      screen.send({ type: 'start', flow: 'pickup' });
      screen.send({ type: 'enter-id', idNumber: UNKNOWN_ID });
      const view = await screen.waitFor(
        (v) => v.screen === 'finger' || v.messageKey === 'identify.rate-limited',
        30_000,
        from,
      );
      limited = view.messageKey === 'identify.rate-limited';
      await backToAttract();
    }
    const outcome = recordAttack({
      name: 'touchscreen-id-rate-limit',
      refused: limited,
      reason: limited
        ? `identification refused after ${attempts} more attempts in the window`
        : 'no limit within 20 attempts',
    });
    expect(outcome.refused).toBe(true);
  });

  it('PII scan after a SIGKILL in the middle of an update', async () => {
    await world.rig({ type: 'finger', who: MAI.pickupId });
    const from = screen.views.length;
    screen.send({ type: 'start', flow: 'update' });
    await screen.waitFor((view) => view.screen === 'update-identify', 10_000, from);
    await world.rig({ type: 'scan', text: qrOf(MAI.record) });
    await screen.waitFor((view) => view.screen === 'update-record', 60_000, from);
    world.demo.child.kill('SIGKILL');
    await world.demo.exited;
    const scan = await piiScan();
    expect(scan).toEqual({ fileHits: [], rowHits: [], logHits: [], open: [] });
    // the failed-finger counts are on disk, for the next start
    expect(await everyRowAsText(join(world.kioskDir, 'kiosk.sqlite'))).toContain(`pickup:${ANH.pickupId}`);
  });
});

describe('card-layer attacks, on the kiosk’s own verification code', () => {
  it('a SOD with signedAttrs but no messageDigest is refused', () => {
    const pki = createTestPki();
    const dataGroups = new Map([[1, Buffer.from('DG1 of somebody else')]]);
    const sod = buildSod({
      dataGroups,
      hashAlgorithm: 'sha256',
      signerKey: pki.documentSigner.privateKey,
      signerCertificate: pki.documentSigner.der,
      omitMessageDigest: true,
    });
    const verdict = verifyPassiveAuthentication({
      sod,
      dataGroups,
      trustAnchors: parseTrustList(pki.trustListPem),
    });
    const failed = verdict.checks.filter((check) => !check.passed).map((check) => check.check);
    const outcome = recordAttack({
      name: 'card-sod-without-message-digest',
      refused: !verdict.passed,
      reason: verdict.passed
        ? 'passive authentication passed'
        : `passive authentication failed: ${failed.join(', ')}`,
    });
    expect(outcome.refused).toBe(true);
  });

  it('a secure-messaging response with a forged MAC is refused', () => {
    const keys = { ksEnc: Buffer.alloc(16, 1), ksMac: Buffer.alloc(16, 2), ssc: 1n };
    const wire = new SecureMessaging(keys).wrapResponse({ data: Buffer.from('forged DG1'), sw: 0x9000 });
    const forged = Buffer.from(wire);
    forged[wire.length - 3] = (forged[wire.length - 3] ?? 0) ^ 0x80;
    let reason = 'accepted';
    try {
      new SecureMessaging(keys).unwrapResponse({ data: forged.subarray(0, -2), sw: 0x9000 });
    } catch (error) {
      reason = error instanceof SecureMessagingError ? `SecureMessagingError ${error.check}` : String(error);
    }
    const outcome = recordAttack({ name: 'card-forged-sm-mac', refused: reason !== 'accepted', reason });
    expect(outcome.refused).toBe(true);
  });
});

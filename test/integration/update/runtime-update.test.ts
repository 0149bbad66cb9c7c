/**
 * Issue 14, must-show item 1, end to end: bundles v0.1.0 and v0.1.1 of the built app (dist/ and
 * the runtime's assets, through the production packer) published to a TUF repository served on
 * loopback HTTPS; v0.1.0 installed in a temporary root as install.sh leaves it; the REAL unit
 * files of deploy/systemd run by the harness (unit-runner.ts: ExecStartPre=+ release-guard.sh, then
 * `kiosk start` through `current`, Restart=always; RestartSec= scaled by 0.1 for test speed), the
 * kiosk's link on real Mosquitto over TLS with a client certificate. `kiosk-ops rollout start
 * --software 0.1.1` pushes the signed order; the kiosk downloads and verifies it into its state
 * directory, switches at idle (exit 75; the guard lands and switches before the next start),
 * answers `applied`, release probation marks it good (`kept`, `release-good`), and its retained
 * status and telemetry say 0.1.1. A crash-looping 0.1.2 is rolled back by the guard, reported by
 * the kiosk once up (`software.rolledBack`, naming the order), and aborts its rollout.
 *
 * A SIGKILL of the kiosk in the middle of a download: Restart= brings it back, the order resumes
 * and the download continues from where it stopped (Range), and the release is applied.
 *
 * Then orders that must store nothing: signed by an unknown key, tampered after signing, for
 * another kiosk, and a replay of an accepted order; and kiosk-ops' refusals of bad input.
 *
 * The install rig (rollback-rig.ts) is shared with the rollback tests; its bundles carry no
 * node_modules (the rig links the project's where Node finds them).
 *
 * Not driven here: a citizen session in progress during the switch (this kiosk has no devices, so
 * it is always idle); test/unit/update/runtime-update.test.ts shows the switch waits for it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KioskConfigInput } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signCommand } from '../../../src/fleet/index.js';
import type { Envelope, MessageBody } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { type Received, watchTopic } from '../../helpers/mqtt-watch.js';
import { ROOT } from '../../helpers/processes.js';
import { makeBrokerPki } from '../../helpers/test-pki.js';
import { unpackBundle } from '../../../src/update/bundle.js';
import { markReleaseGood, switchRelease } from '../../../src/update/releases.js';
import { tempDir } from './fixtures.js';
import {
  appBundle,
  assertBuilt,
  exitsAtStart,
  KIOSK_SERVICE,
  type KioskInstall,
  makeInstall,
} from './rollback-rig.js';

const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));
const run = promisify(execFile);
/** Generous: the machine is shared; nothing here asserts a duration. */
const DEADLINE_MS = 180_000;

type SoftwareResult = MessageBody<'software.result'>;

async function kioskOps(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', OPS_CLI, ...args], {
      cwd: ROOT,
      timeout: DEADLINE_MS * 2,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

const results = (events: { received: Received[] }, orderId: string): SoftwareResult[] =>
  events.received
    .map((received) => JSON.parse(received.payload) as Envelope<SoftwareResult>)
    .filter((event) => event.type === 'software.result' && event.body.orderId === orderId)
    .map((event) => event.body);

describe('a software rollout reaches a running kiosk (issue 14 item 1)', () => {
  const kioskId = `upd-${process.pid}`;
  let work: string;
  let broker: MosquittoInstance;
  let ops: MqttClient;
  let install: KioskInstall;
  let events: Awaited<ReturnType<typeof watchTopic>>;
  let results_: Awaited<ReturnType<typeof watchTopic>>;
  let statuses: Awaited<ReturnType<typeof watchTopic>>;
  let telemetry: Awaited<ReturnType<typeof watchTopic>>;
  const opsKeys = generateOpsKeyPair();
  const opsKey = privateKeyFromPem(opsKeys.privateKeyPem);
  let root: string;
  let state: string;
  let keyFile: string;
  let brokerPki: string | undefined;
  const status = (message: Received) =>
    (JSON.parse(message.payload) as Envelope<MessageBody<'kiosk.status'>>).body;

  /** `kiosk-ops rollout start --software VERSION` to this test's kiosk alone (its canary). */
  function softwareRollout(version: string, extra: string[] = []) {
    return kioskOps([
      '--json',
      'rollout',
      'start',
      '--url',
      broker.url,
      '--key',
      keyFile,
      '--software',
      version,
      '--kiosk',
      kioskId,
      '--canary',
      kioskId,
      ...extra,
      '--ack-timeout',
      String(DEADLINE_MS),
      '--soak',
      '500',
    ]);
  }

  beforeAll(async () => {
    await assertBuilt();
    work = tempDir('runtime-update');
    // in the system temp directory: Mosquitto reads it as its own user
    brokerPki = mkdtempSync(join(tmpdir(), 'update-runtime-pki-'));
    makeBrokerPki(brokerPki, kioskId);
    const tlsPort = await freePort();
    broker = await startMosquitto([
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(brokerPki, 'ca.pem')}`,
      `certfile ${join(brokerPki, 'server.pem')}`,
      `keyfile ${join(brokerPki, 'server.key')}`,
      'require_certificate true',
    ]);
    ops = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    events = await watchTopic(broker.url, topics.events(kioskId));
    results_ = await watchTopic(broker.url, topics.cmdResult(kioskId));
    statuses = await watchTopic(broker.url, topics.status(kioskId));
    telemetry = await watchTopic(broker.url, topics.telemetry(kioskId));
    keyFile = join(work, 'ops-keys', 'ops.key');
    await mkdir(join(work, 'ops-keys'));
    writeFileSync(keyFile, opsKey.export({ format: 'pem', type: 'pkcs8' }));

    install = await makeInstall({
      kioskId,
      broker: {
        tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
        ca: join(brokerPki, 'ca.pem'),
        cert: join(brokerPki, 'kiosk.pem'),
        key: join(brokerPki, 'kiosk.key'),
      },
      opsPublicKey: opsKeys.publicKey,
      uiPort: await freePort(),
      restartSecScale: 0.1,
    });
    root = install.root;
    state = install.state;
    // this test's own settings: the shortest release probation, telemetry every 2 s
    const config = JSON.parse(await readFile(install.configFile, 'utf8')) as KioskConfigInput;
    // capped downloads (2 MiB/s) so that a SIGKILL can land inside one
    config.update = { ...config.update, probationMinutes: 1, maxBytesPerSecond: 2 * 1024 * 1024 };
    config.mqtt = { ...config.mqtt, telemetryIntervalMs: 2000 };
    writeFileSync(install.configFile, JSON.stringify(config, null, 2));

    const first = await appBundle(work, '0.1.0');
    await install.publish([first, await appBundle(work, '0.1.1')]);
    // v0.1.0 laid out as deploy/install.sh leaves a first install (releases/0.1.0, current, good);
    // not with `kiosk update`, which refuses 0.1.0 as already running: the project itself is 0.1.0
    await mkdir(join(root, 'releases'), { recursive: true });
    await unpackBundle(first.file, join(root, 'releases', '0.1.0'));
    await switchRelease(root, '0.1.0');
    await markReleaseGood(root);
    await install.manager.start(KIOSK_SERVICE);
    await install.manager.until(
      () =>
        statuses.received.some((message) => status(message).online && status(message).version === '0.1.0'),
      DEADLINE_MS,
      'an online status from 0.1.0',
    );
  }, DEADLINE_MS * 2);

  afterAll(async () => {
    await install?.close();
    await Promise.all([events, results_, statuses, telemetry].map((watcher) => watcher?.close()));
    await ops?.endAsync();
    await broker?.stop();
    if (brokerPki) await rm(brokerPki, { recursive: true, force: true });
  });

  it(
    'kiosk-ops rolls out 0.1.1: downloaded, verified, switched at idle, restarted, marked good; status says 0.1.1',
    async () => {
      await statuses.waitFor(
        (message) => status(message).version === '0.1.0' && status(message).online,
        DEADLINE_MS,
      );

      const rollout = await softwareRollout('0.1.1');
      expect(rollout.code, `${rollout.stderr}\n${install.manager.log().slice(-4000)}`).toBe(0);
      const record = JSON.parse(rollout.stdout) as {
        id: string;
        state: string;
        kiosks: Record<string, { outcome: string; messageId: string }>;
      };
      expect(record.state).toBe('completed');
      const orderId = record.kiosks[kioskId]!.messageId;

      // the kiosk said each step, in order, and runs the new release from `current`
      const said = results(events, orderId).map((result) => result.status);
      expect(said).toEqual(
        expect.arrayContaining(['accepted', 'downloading', 'staged', 'switching', 'applied']),
      );
      expect(said.indexOf('staged')).toBeLessThan(said.indexOf('switching'));
      expect(said.indexOf('switching')).toBeLessThan(said.indexOf('applied'));
      expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
      expect(readFileSync(join(root, 'update', 'previous'), 'utf8').trim()).toBe('0.1.0');
      expect(install.manager.log()).toContain('release-guard: switched 0.1.0 -> 0.1.1 (on probation)');
      // the guard landed the verified copy and cleaned the staging area
      expect(existsSync(join(root, 'releases', '0.1.1', 'SHA256SUMS'))).toBe(true);
      expect(existsSync(join(state, 'switch-request'))).toBe(false);
      expect(existsSync(join(state, 'update-staging', 'releases', '0.1.1'))).toBe(false);

      await statuses.waitFor(
        (message) => status(message).version === '0.1.1' && status(message).online,
        DEADLINE_MS,
      );
      await events.waitFor((message) => {
        const event = JSON.parse(message.payload) as Envelope<SoftwareResult>;
        return (
          event.type === 'software.result' && event.body.orderId === orderId && event.body.status === 'kept'
        );
      }, DEADLINE_MS);
      expect(readFileSync(join(state, 'release-good'), 'utf8').trim()).toBe('0.1.1');
      await telemetry.waitFor(
        (message) =>
          (JSON.parse(message.payload) as Envelope<MessageBody<'kiosk.telemetry'>>).body.versions.software ===
          '0.1.1',
        DEADLINE_MS,
      );

      const list = await kioskOps(['--json', 'rollout', 'status', '--key', keyFile, record.id]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain('software 0.1.1');
    },
    DEADLINE_MS * 3,
  );

  it(
    'refuses orders signed by another key, tampered, for another kiosk or replayed, and stores nothing of them',
    async () => {
      const orderFile = join(state, 'software-order.json');
      const before = readFileSync(orderFile, 'utf8');
      const send = (message: Envelope) =>
        ops.publishAsync(topics.cmd(kioskId), JSON.stringify(message), { qos: 1 });
      const answer = (correlationId: string) =>
        results_.waitFor((message) => {
          const reply = JSON.parse(message.payload) as Envelope<MessageBody<'command.result'>>;
          return reply.correlationId === correlationId;
        }, DEADLINE_MS);
      const order = (options: { key?: typeof opsKey; kioskId?: string } = {}) =>
        signCommand({
          name: 'update-software',
          kioskId: options.kioskId ?? kioskId,
          args: { version: '0.1.9' },
          key: options.key ?? opsKey,
        });
      const reasonOf = (message: Received) =>
        (JSON.parse(message.payload) as Envelope<MessageBody<'command.result'>>).body;

      const foreign = order({ key: privateKeyFromPem(generateOpsKeyPair().privateKeyPem) });
      const tampered = order();
      tampered.body.args = { version: '0.1.8' };
      const otherKiosk = order({ kioskId: 'another-kiosk' });
      for (const message of [foreign, tampered, otherKiosk]) await send(message);
      expect(reasonOf(await answer(foreign.correlationId!))).toMatchObject({
        status: 'refused',
        reason: 'unknown-key',
      });
      expect(reasonOf(await answer(tampered.correlationId!))).toMatchObject({
        status: 'refused',
        reason: 'bad-signature',
      });
      expect(reasonOf(await answer(otherKiosk.correlationId!))).toMatchObject({
        status: 'refused',
        reason: 'other-kiosk',
      });

      // a valid order is taken (0.1.9 is not published: refused by the updater), its replay is not
      const valid = order();
      await send(valid);
      expect(reasonOf(await answer(valid.correlationId!))).toMatchObject({ status: 'ok' });
      await events.waitFor((message) => {
        const event = JSON.parse(message.payload) as Envelope<SoftwareResult>;
        return (
          event.type === 'software.result' &&
          event.body.orderId === valid.id &&
          event.body.status === 'refused'
        );
      }, DEADLINE_MS);
      const afterValid = readFileSync(orderFile, 'utf8');
      const answered = results_.received.length;
      await send(valid);
      const replay = await results_.waitFor(
        (message) => (JSON.parse(message.payload) as Envelope).correlationId === valid.correlationId,
        DEADLINE_MS,
        answered,
      );
      expect(reasonOf(replay)).toMatchObject({ status: 'refused', reason: 'replayed' });

      // the outbox is in order: a marker order's answer comes after anything the refused ones said
      const marker = order();
      await send(marker);
      await events.waitFor((message) => {
        const event = JSON.parse(message.payload) as Envelope<SoftwareResult>;
        return event.type === 'software.result' && event.body.orderId === marker.id;
      }, DEADLINE_MS);
      for (const refused of [foreign, tampered, otherKiosk]) expect(results(events, refused.id)).toEqual([]);
      expect(results(events, valid.id).filter((result) => result.status === 'accepted')).toHaveLength(1);
      expect(before).not.toBe(afterValid);
      expect(JSON.parse(afterValid)).toMatchObject({ orderId: valid.id });
      // still the release it switched to
      expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
    },
    DEADLINE_MS * 2,
  );

  it(
    'a release that crash-loops is rolled back by the guard; the kiosk reports it once up, the rollout aborts',
    async () => {
      await install.publish([await appBundle(work, '0.1.2', exitsAtStart)]);
      const rollout = await softwareRollout('0.1.2', ['--max-failures', '0']);
      expect(rollout.code, `${rollout.stderr}\n${install.manager.log().slice(-4000)}`).not.toBe(0);
      const record = JSON.parse(rollout.stdout) as {
        state: string;
        reason?: string;
        kiosks: Record<string, { outcome: string; messageId: string; detail?: string }>;
      };
      expect(record.state).toBe('aborted');
      expect(record.kiosks[kioskId]).toMatchObject({
        outcome: 'rolled-back',
        detail: '0.1.2 -> 0.1.1: crash-loop',
      });
      const orderId = record.kiosks[kioskId]!.messageId;
      const reported = events.received
        .map((received) => JSON.parse(received.payload) as Envelope<MessageBody<'software.rolledBack'>>)
        .filter((event) => event.type === 'software.rolledBack');
      expect(reported.map((event) => event.body)).toEqual([
        expect.objectContaining({ from: '0.1.2', to: '0.1.1', reason: 'crash-loop', orderId }),
      ]);
      expect(install.manager.log()).toContain('release-guard: rolled back 0.1.2 -> 0.1.1 (crash-loop)');
      expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
      // reported: the runtime's copy is gone, the guard's history stays
      await install.manager.until(
        () => !existsSync(join(state, 'rollbacks.jsonl')),
        DEADLINE_MS,
        'the reported rollbacks cleared',
      );
      expect(readFileSync(join(root, 'update', 'rollbacks.jsonl'), 'utf8')).toContain('"from":"0.1.2"');
    },
    DEADLINE_MS * 3,
  );

  it(
    'SIGKILL of the kiosk mid-download: systemd starts it again, the download resumes where it stopped, and the release is applied',
    async () => {
      // incompressible padding under the test's 2 MiB/s cap: the download lasts long enough to be cut
      const next = await appBundle(work, '0.1.3', undefined, 16 * 1024 * 1024);
      const bundleBytes = (await stat(next.file)).size;
      await install.publish([next]);
      const downloads = join(state, 'update-staging', 'update', 'downloads');
      const partBytes = async () => {
        const names = await readdir(downloads).catch(() => [] as string[]);
        const part = names.find((name) => name.endsWith('.part'));
        return part ? (await stat(join(downloads, part))).size : 0;
      };

      const rollout = softwareRollout('0.1.3');
      await install.manager.until(
        async () => (await partBytes()) >= 2 * 1024 * 1024,
        DEADLINE_MS,
        'a partial download by the kiosk',
      );
      install.manager.kill(KIOSK_SERVICE, 'main', 'SIGKILL');
      const done = await rollout;
      expect(done.code, `${done.stderr}\n${install.manager.log().slice(-4000)}`).toBe(0);
      expect((JSON.parse(done.stdout) as { state: string }).state).toBe('completed');
      expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.3'));
      expect(install.manager.events.some((e) => e.kind === 'exited' && e.detail === 'signal SIGKILL')).toBe(
        true,
      );
      // resumed with a Range request: the restarted kiosk received only what the killed one had not
      const stagedLine = install.manager
        .log()
        .split('\n')
        .find((line) => line.includes('release verified and staged') && line.includes('"version":"0.1.3"'));
      expect(stagedLine, install.manager.log().slice(-4000)).toBeDefined();
      const staged = JSON.parse(stagedLine!.slice(stagedLine!.indexOf('{'))) as {
        receivedBytes: number;
        bundleBytes: number;
      };
      expect(staged.bundleBytes).toBe(bundleBytes);
      expect(staged.receivedBytes).toBeGreaterThan(0);
      expect(staged.receivedBytes).toBeLessThanOrEqual(bundleBytes - 2 * 1024 * 1024);
    },
    DEADLINE_MS * 3,
  );

  it('kiosk-ops rollout start --software refuses bad input in one line, before signing or connecting', async () => {
    const start = (...args: string[]) =>
      kioskOps([
        'rollout',
        'start',
        '--url',
        'mqtt://127.0.0.1:1',
        '--key',
        keyFile,
        '--kiosk',
        kioskId,
        ...args,
      ]);
    const cases: Array<[string[], RegExp]> = [
      [['--software', '1.2'], /^kiosk-ops: --software 1\.2: expected a version MAJOR\.MINOR\.PATCH$/],
      [['--software', '0.1.1', '--expires-in-hours', '48'], /a software order lives at most 24 hours/],
      [
        ['--software', '0.1.1', '--config-version', '3'],
        /give either --software or --config-version with --settings/,
      ],
      [[], /give --software VERSION, or --config-version with --settings/],
    ];
    for (const [args, expected] of cases) {
      const { code, stderr } = await start(...args);
      expect(code, args.join(' ')).toBe(1);
      const lines = stderr.trimEnd().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
    }
  });
});

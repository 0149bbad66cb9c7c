/**
 * Issue 14, must-show item 1, end to end: bundles v0.1.0 and v0.1.1 of the built app (dist/ and
 * the runtime's assets, as `npm run bundle` packs them) published to a TUF repository served on loopback HTTPS; v0.1.0
 * installed in a temporary root (releases/0.1.0, current, trusted root.json); `kiosk start` run
 * from `current` as a real process on real Mosquitto over TLS, restarted after every exit with
 * deploy/release-guard.sh run first, as the unit does (ExecStartPre=+ then ExecStart through
 * `current`, Restart=always). `kiosk-ops rollout start --software 0.1.1` pushes the signed order;
 * the kiosk downloads and verifies it into its state directory, switches at idle (restart; the
 * guard lands and switches), answers `applied`, release probation marks it good (`kept`,
 * `release-good`), and its retained status and telemetry say 0.1.1.
 *
 * Then orders that must store nothing: signed by an unknown key, tampered after signing, for
 * another kiosk, and a replay of an accepted order.
 *
 * The temporary root lives under the project's var/ (gitignored): a bundle here carries dist/ but
 * not node_modules (npm run bundle adds them; 17 MB per version), so the release's code finds the
 * project's node_modules by Node's walk up the directory tree.
 *
 * TODO(h14-rollback): the restart loop below is the minimal ExecStartPre + ExecStart +
 * Restart=always of deploy/systemd/cccd-kiosk.service; test/integration/update/unit-runner.ts (the
 * harness that parses and runs the real unit files) replaces it once it is on main.
 *
 * Not driven here: a citizen session in progress during the switch (this kiosk has no devices, so
 * it is always idle); the wait for idle is whenIdle of src/runtime/restart.ts, which restart-required
 * settings use and test.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
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
import { copyRuntimeAssets } from '../../../src/update/build-app.js';
import { APP_DIR, packBundle, unpackBundle } from '../../../src/update/bundle.js';
import { markReleaseGood, switchRelease } from '../../../src/update/releases.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { type Received, watchTopic } from '../../helpers/mqtt-watch.js';
import { ROOT } from '../../helpers/processes.js';
import { makeBrokerPki } from '../../helpers/test-pki.js';
import {
  type FakeBundle,
  HOST_ABI,
  HOST_TARGET,
  makeKeys,
  makeKioskRoot,
  makeOpsPki,
  makeRepository,
  publish,
  serveRepository,
} from './fixtures.js';

const GUARD = join(ROOT, 'deploy', 'release-guard.sh');
const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));
const run = promisify(execFile);
/** Generous: the machine is shared; nothing here asserts a duration. */
const DEADLINE_MS = 180_000;

type SoftwareResult = MessageBody<'software.result'>;

/** A bundle of the built app at `version` (dist/ and package.json, through the production packer). */
async function appBundle(
  work: string,
  version: string,
  options: { exitAtStart?: boolean } = {},
): Promise<FakeBundle> {
  const stage = join(work, `stage-${version}`);
  await mkdir(join(stage, APP_DIR), { recursive: true });
  await cp(join(ROOT, 'dist'), join(stage, APP_DIR, 'dist'), { recursive: true });
  await copyRuntimeAssets(ROOT, join(stage, APP_DIR));
  // a release that never reaches the runtime: its entry point fails at once
  if (options.exitAtStart)
    await writeFile(join(stage, APP_DIR, 'dist', 'src', 'cli', 'kiosk.js'), 'process.exit(1);\n');
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(stage, APP_DIR, 'package.json'), JSON.stringify({ ...pkg, version }));
  const file = join(work, `cccd-kiosk-${version}.tar.gz`);
  await packBundle(
    stage,
    { version, target: HOST_TARGET, nodeAbi: HOST_ABI, minConfigSchema: 1, natives: {} },
    file,
  );
  return {
    file,
    path: `releases/${version}/cccd-kiosk-${version}-${HOST_TARGET}-abi${HOST_ABI}.tar.gz`,
    version,
    target: HOST_TARGET,
    nodeAbi: HOST_ABI,
  };
}

/** The unit's start sequence in a loop: the guard (as root would), then `kiosk start` through `current`. */
function serviceLoop(root: string, state: string, configFile: string) {
  let output = '';
  let stopping = false;
  let child: ChildProcess | undefined;
  const starts: string[] = [];
  const launch = () => {
    try {
      execFileSync('sh', [GUARD, 'boot', root, state, '3'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      output += `guard failed: ${String(error)}\n`;
    }
    starts.push(readlinkSyncSafe(join(root, 'current')));
    child = spawn(
      process.execPath,
      [join(root, 'current', 'app', 'dist', 'src', 'cli', 'kiosk.js'), 'start', '--config', configFile],
      {
        cwd: state,
        env: { ...process.env, FORCE_COLOR: '0', NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code, signal) => {
      output += `\n[service] exited code=${code} signal=${signal}\n`;
      if (!stopping) setTimeout(launch, 200).unref(); // RestartSec, shortened
    });
  };
  launch();
  return {
    starts,
    output: () => output,
    async stop() {
      stopping = true;
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function readlinkSyncSafe(path: string): string {
  try {
    return execFileSync('readlink', [path]).toString().trim();
  } catch {
    return '(none)';
  }
}

async function until(
  condition: () => boolean,
  what: string,
  output: () => string,
  timeoutMs = DEADLINE_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline || (output().match(/\[service\] exited/g) ?? []).length > 3)
      throw new Error(`timed out waiting for ${what}; service output:\n${output().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

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
  let repoServer: Awaited<ReturnType<typeof serveRepository>>;
  let service: ReturnType<typeof serviceLoop>;
  let events: Awaited<ReturnType<typeof watchTopic>>;
  let results_: Awaited<ReturnType<typeof watchTopic>>;
  let statuses: Awaited<ReturnType<typeof watchTopic>>;
  const opsKeys = generateOpsKeyPair();
  const opsKey = privateKeyFromPem(opsKeys.privateKeyPem);
  let root: string;
  let state: string;
  let keyFile: string;
  let brokerPki: string | undefined;
  let repo: string;
  const keys = makeKeys();
  let telemetry: Awaited<ReturnType<typeof watchTopic>>;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'kiosk.js')))
      throw new Error('dist/ is not built: run `npm run build` first (CI builds before the tests)');
    mkdirSync(join(ROOT, 'var'), { recursive: true });
    work = mkdtempSync(join(ROOT, 'var', 'test-update-runtime-'));
    root = join(work, 'opt');
    state = join(work, 'var-lib');
    await mkdir(state, { recursive: true });

    // ops: the TUF repository with both releases, served over HTTPS by the ops CA
    repo = join(work, 'repo');
    await makeRepository(repo, keys);
    const bundles = [await appBundle(work, '0.1.0'), await appBundle(work, '0.1.1')];
    await publish(repo, keys, bundles);
    const opsPkiDir = join(work, 'ops-pki');
    await mkdir(opsPkiDir);
    const opsPki = makeOpsPki(opsPkiDir);
    repoServer = await serveRepository({ dir: repo, cert: opsPki.serverCert, key: opsPki.serverKey });
    keyFile = join(work, 'ops-keys', 'ops.key');
    await mkdir(join(work, 'ops-keys'));
    writeFileSync(keyFile, opsKey.export({ format: 'pem', type: 'pkcs8' }));

    // the kiosk: v0.1.0 installed as install.sh leaves it (a good release, the TUF root trusted)
    await mkdir(join(root, 'releases'), { recursive: true });
    await unpackBundle(bundles[0]!.file, join(root, 'releases', '0.1.0'));
    await makeKioskRoot(root, repo);
    await switchRelease(root, '0.1.0');
    await markReleaseGood(root);

    // in the system temp directory: Mosquitto reads it as its own user
    const pki = mkdtempSync(join(tmpdir(), 'update-runtime-pki-'));
    brokerPki = pki;
    makeBrokerPki(pki, kioskId);
    const tlsPort = await freePort();
    broker = await startMosquitto([
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(pki, 'ca.pem')}`,
      `certfile ${join(pki, 'server.pem')}`,
      `keyfile ${join(pki, 'server.key')}`,
      'require_certificate true',
    ]);
    ops = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    events = await watchTopic(broker.url, topics.events(kioskId));
    results_ = await watchTopic(broker.url, topics.cmdResult(kioskId));
    statuses = await watchTopic(broker.url, topics.status(kioskId));
    telemetry = await watchTopic(broker.url, topics.telemetry(kioskId));

    const config: KioskConfigInput = {
      kiosk: { id: kioskId },
      mqtt: {
        url: `mqtts://127.0.0.1:${tlsPort}`,
        protocolVersion: 5,
        tls: { ca: join(pki, 'ca.pem'), cert: join(pki, 'kiosk.pem'), key: join(pki, 'kiosk.key') },
        reconnect: { minMs: 100, maxMs: 1000 },
        telemetryIntervalMs: 2000,
      },
      dataDir: state,
      ui: { host: '127.0.0.1', port: await freePort() },
      fleet: { opsPublicKeys: [opsKeys.publicKey] },
      update: {
        installRoot: root,
        repositoryUrl: repoServer.url,
        caFile: join(opsPkiDir, 'ca.pem'),
        maxBytesPerSecond: 0,
        probationMinutes: 1,
      },
    };
    const configFile = join(work, 'kiosk.json');
    writeFileSync(configFile, JSON.stringify(config));
    service = serviceLoop(root, state, configFile);
    await until(() => /link: connected/.test(service.output()), 'the kiosk v0.1.0 connected', service.output);
  }, DEADLINE_MS * 2);

  afterAll(async () => {
    await service?.stop();
    await Promise.all([events, results_, statuses, telemetry].map((watcher) => watcher?.close()));
    await ops?.endAsync();
    await broker?.stop();
    await repoServer?.close();
    if (work) await rm(work, { recursive: true, force: true });
    if (brokerPki) await rm(brokerPki, { recursive: true, force: true });
  });

  it(
    'kiosk-ops rolls out 0.1.1: downloaded, verified, switched at idle, restarted, marked good; status says 0.1.1',
    async () => {
      const status = (message: Received) =>
        (JSON.parse(message.payload) as Envelope<MessageBody<'kiosk.status'>>).body;
      await statuses.waitFor(
        (message) => status(message).version === '0.1.0' && status(message).online,
        DEADLINE_MS,
      );

      const rollout = await kioskOps([
        '--json',
        'rollout',
        'start',
        '--url',
        broker.url,
        '--key',
        keyFile,
        '--software',
        '0.1.1',
        '--kiosk',
        kioskId,
        '--canary',
        kioskId,
        '--ack-timeout',
        String(DEADLINE_MS),
        '--soak',
        '500',
      ]);
      expect(rollout.code, `${rollout.stderr}\n${service.output().slice(-4000)}`).toBe(0);
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
      expect(service.starts).toEqual([join('releases', '0.1.0'), join('releases', '0.1.1')]);
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
      await publish(repo, keys, [await appBundle(work, '0.1.2', { exitAtStart: true })]);
      const startsBefore = service.starts.length;
      const rollout = await kioskOps([
        '--json',
        'rollout',
        'start',
        '--url',
        broker.url,
        '--key',
        keyFile,
        '--software',
        '0.1.2',
        '--kiosk',
        kioskId,
        '--canary',
        kioskId,
        '--max-failures',
        '0',
        '--ack-timeout',
        String(DEADLINE_MS),
        '--soak',
        '500',
      ]);
      expect(rollout.code, `${rollout.stderr}\n${service.output().slice(-4000)}`).not.toBe(0);
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
      // three starts of the broken release (the guard's MAX_BOOTS), then the previous one again
      expect(service.starts.slice(startsBefore)).toEqual([
        ...Array(3).fill(join('releases', '0.1.2')),
        join('releases', '0.1.1'),
      ]);
      expect(await readlink(join(root, 'current'))).toBe(join('releases', '0.1.1'));
      // reported: the runtime's copy is gone, the guard's history stays
      await until(
        () => !existsSync(join(state, 'rollbacks.jsonl')),
        'the reported rollbacks cleared',
        service.output,
      );
      expect(readFileSync(join(root, 'update', 'rollbacks.jsonl'), 'utf8')).toContain('"from":"0.1.2"');
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

/**
 * Issue 14, item 3: rollback, through the REAL unit files of deploy/systemd run by the harness in
 * unit-runner.ts (no systemd PID 1 here; the harness says what it implements). The guard is the
 * real deploy/release-guard.sh, the runtime is the real `kiosk start` of the release `current`
 * points at, the kiosk's link speaks TLS with a client certificate to a real Mosquitto, and the
 * releases are installed from a TUF repository over loopback HTTPS with the real `kiosk update`.
 *
 * - a v0.1.2 that exits at start: the guard's boot counter (ExecStartPre=+, three starts allowed)
 *   rolls back to v0.1.1 at the fourth start of the crash loop;
 * - a v0.1.2 that starts but never reaches the broker: release probation in the runtime leaves a
 *   rollback request and exits, Restart=always starts it again, and the guard rolls back before
 *   the release runs again;
 * - when StartLimitBurst= trips before the guard's counter (a release restarted often just before
 *   the switch), OnFailure=cccd-kiosk-rollback.service rolls back and starts the service again;
 *   with nothing on probation (a broken config, not a release), the service stays failed;
 * - SIGKILL of the guard while it copies a release the runtime staged (src/update/runtime-update.ts)
 *   into releases/ leaves v0.1.1 running, and the next switch request lands it;
 * - SIGKILL of the updater during the download and during the landing (unpacked, not yet renamed
 *   into releases/) leaves v0.1.1 current and the service restartable, and a retried update
 *   completes.
 * - and the way in beside the rollout: a technician's `kiosk update` without --now, which the
 *   running kiosk switches to by itself at idle (src/update/installed-release.ts + the guard).
 *
 * RestartSec= (3 s in the unit) is scaled by 0.1 for test speed. Nothing here asserts a duration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, watch } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateOpsKeyPair } from '../../../src/fleet/index.js';
import { topics } from '../../../src/link/topics.js';
import { currentVersion, unreportedRollbacks } from '../../../src/update/releases.js';
import {
  seedTrustedRoot,
  stagingRoot,
  switchRequestFile,
  writeChecksums,
} from '../../../src/update/runtime-update.js';
import { stageUpdate } from '../../../src/update/updater.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';
import { makeBrokerPki } from '../../helpers/test-pki.js';
import type { FakeBundle } from './fixtures.js';
import { HOST_ABI, HOST_TARGET, hostAt, tempDir } from './fixtures.js';
import {
  appBundle,
  assertBuilt,
  type Broker,
  exitsAtStart,
  installFirst,
  KIOSK_SERVICE,
  type KioskInstall,
  makeInstall,
  neverConnects,
} from './rollback-rig.js';

const DEADLINE_MS = 120_000;
const TEST_TIMEOUT_MS = 300_000;
const KIOSK_ID = `rollback-${process.pid}`;
const ROLLBACK_SERVICE = 'cccd-kiosk-rollback.service';

describe('rollback of a bad release under the real systemd units (issue 14, item 3)', () => {
  let mosquitto: MosquittoInstance;
  let broker: Broker;
  let statuses: Awaited<ReturnType<typeof watchTopic>>;
  let work: string;
  let good: FakeBundle;
  const installs: KioskInstall[] = [];
  const children: ChildProcess[] = [];
  const ops = generateOpsKeyPair();

  beforeAll(async () => {
    await assertBuilt();
    const pki = mkdtempSync(join(tmpdir(), 'rollback-pki-'));
    makeBrokerPki(pki, KIOSK_ID);
    const tlsPort = await freePort();
    mosquitto = await startMosquitto([
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(pki, 'ca.pem')}`,
      `certfile ${join(pki, 'server.pem')}`,
      `keyfile ${join(pki, 'server.key')}`,
      'require_certificate true',
    ]);
    broker = {
      tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
      ca: join(pki, 'ca.pem'),
      cert: join(pki, 'kiosk.pem'),
      key: join(pki, 'kiosk.key'),
    };
    // the kiosk's retained status, read from outside on the plain listener
    statuses = await watchTopic(mosquitto.url, topics.status(KIOSK_ID));
    work = tempDir('rollback-bundles');
    good = await appBundle(work, '0.1.1');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await Promise.all(installs.splice(0).map((install) => install.close()));
  });
  afterAll(async () => {
    await statuses?.close();
    await mosquitto?.stop();
  });

  /** An install running v0.1.1 (connected), with `next` published beside it. */
  async function runningOnGood(next: FakeBundle[]): Promise<KioskInstall> {
    const install = await makeInstall({
      kioskId: KIOSK_ID,
      broker,
      opsPublicKey: ops.publicKey,
      uiPort: await freePort(),
      restartSecScale: 0.1,
    });
    installs.push(install);
    await install.publish([good, ...next]);
    await installFirst(install, '0.1.1');
    const from = statuses.received.length;
    await install.manager.start(KIOSK_SERVICE);
    await connectedAs(install, '0.1.1', from);
    return install;
  }

  /** Versions the kiosk's status said were online, in statuses published after message `from`. */
  function onlineVersions(from: number): Array<string | undefined> {
    return statuses.received.slice(from).flatMap((message) => {
      const body = (JSON.parse(message.payload) as { body?: { online?: boolean; version?: string } }).body;
      return body?.online === true ? [body.version] : [];
    });
  }

  /**
   * The kiosk's status says it is online running `version` (published after message `from`), and
   * the harness has the unit active (READY=1 came; the link may connect before or after it).
   */
  async function connectedAs(install: KioskInstall, version: string, from: number): Promise<void> {
    await install.manager.until(
      () => onlineVersions(from).includes(version) && install.manager.state(KIOSK_SERVICE) === 'active',
      DEADLINE_MS,
      `an online status from ${version} with the unit active`,
    );
  }

  /** `systemctl restart`: what the update path does after switching `current`. */
  async function restart(install: KioskInstall): Promise<void> {
    await install.manager.stop(KIOSK_SERVICE);
    await install.manager.start(KIOSK_SERVICE);
  }

  it(
    'a v0.1.2 that exits at start is rolled back to v0.1.1 by the boot counter, recorded, and v0.1.1 runs',
    async () => {
      const broken = await appBundle(work, '0.1.2', exitsAtStart);
      const install = await runningOnGood([broken]);
      await install.update('0.1.2');
      expect(await currentVersion(install.root)).toBe('0.1.2');
      const from = statuses.received.length;
      await restart(install);
      await connectedAs(install, '0.1.1', from);
      expect(await currentVersion(install.root)).toBe('0.1.1');
      expect(await unreportedRollbacks(install.root)).toMatchObject([
        { from: '0.1.2', to: '0.1.1', reason: 'crash-loop' },
      ]);
      const kinds = install.manager.events.map((event) => event.kind);
      // three failed starts of 0.1.2 were allowed (guard: MAX_BOOTS 3), the fourth ran 0.1.1
      expect(kinds.filter((kind) => kind === 'restart').length).toBeGreaterThanOrEqual(3);
      expect(kinds).not.toContain('start-limit-hit');
      expect(install.manager.log()).toContain('rolled back 0.1.2 -> 0.1.1 (crash-loop)');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a v0.1.2 that starts but never reaches the broker is rolled back through release probation and the guard',
    async () => {
      const cut = await appBundle(work, '0.1.2', neverConnects);
      const install = await runningOnGood([cut]);
      await install.update('0.1.2');
      const from = statuses.received.length;
      await restart(install);
      await connectedAs(install, '0.1.1', from);
      expect(await currentVersion(install.root)).toBe('0.1.1');
      expect(await unreportedRollbacks(install.root)).toMatchObject([
        { from: '0.1.2', to: '0.1.1', reason: 'broker' },
      ]);
      // 0.1.2 did start (READY=1 reached the harness) and judged itself; it was not a crash loop
      const log = install.manager.log();
      expect(log).toContain('release on probation failed');
      expect(
        install.manager.events.filter((e) => e.kind === 'ready' && e.unit === KIOSK_SERVICE).length,
      ).toBeGreaterThanOrEqual(3);
      // the status never said 0.1.2 was online: its link never came up
      expect(onlineVersions(from)).not.toContain('0.1.2');
    },
    TEST_TIMEOUT_MS,
  );

  /** Waits for the end of the rollback unit's run (it finished, or it failed). */
  async function rollbackUnitRan(install: KioskInstall): Promise<void> {
    await install.manager.until(
      () =>
        install.manager.events.some(
          (e) => e.unit === ROLLBACK_SERVICE && (e.kind === 'finished' || e.kind === 'failed'),
        ),
      DEADLINE_MS,
      'a run of the rollback unit',
    );
  }

  it(
    'when the start limit trips before the boot counter, OnFailure= runs the rollback unit, which rolls back and starts v0.1.1',
    async () => {
      const broken = await appBundle(work, '0.1.2', exitsAtStart);
      const install = await runningOnGood([broken]);
      // 0.1.1 was started 8 times within StartLimitIntervalSec= (10 min) before the switch (say
      // restart-required settings): 0.1.2 gets two starts before StartLimitBurst= (10) trips,
      // fewer than the guard's three, so OnFailure= is what rolls it back
      for (let restarts = 1; restarts <= 7; restarts++) {
        await restart(install);
        await install.manager.until(
          () => install.manager.state(KIOSK_SERVICE) === 'active',
          DEADLINE_MS,
          'v0.1.1 active',
        );
      }
      await install.update('0.1.2');
      const from = statuses.received.length;
      await restart(install);
      await connectedAs(install, '0.1.1', from);
      expect(await unreportedRollbacks(install.root)).toMatchObject([
        { from: '0.1.2', to: '0.1.1', reason: 'start-failed' },
      ]);
      const kinds = install.manager.events.map((e) => `${e.unit}:${e.kind}`);
      expect(kinds).toContain(`${KIOSK_SERVICE}:start-limit-hit`);
      expect(kinds).toContain(`${KIOSK_SERVICE}:on-failure`);
      expect(kinds).toContain(`${ROLLBACK_SERVICE}:finished`);
      // the rollback unit's ExecStartPost= reset the start limit: v0.1.1 is active again
      expect(install.manager.state(KIOSK_SERVICE)).toBe('active');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a release not on probation that fails at every start (a broken config) stays failed after the start limit: nothing to roll back, no flapping',
    async () => {
      const install = await runningOnGood([]);
      await writeFile(install.configFile, '{ "not": "a kiosk configuration"');
      await restart(install);
      await rollbackUnitRan(install);
      expect(install.manager.events).toContainEqual({ unit: KIOSK_SERVICE, kind: 'start-limit-hit' });
      expect(await currentVersion(install.root)).toBe('0.1.1');
      expect(await unreportedRollbacks(install.root)).toEqual([]);
      // the rollback unit failed (nothing on probation), so its ExecStartPost= did not start the
      // service again: it stays failed, as the unit's StartLimitBurst= comment wants
      expect(install.manager.events).toContainEqual(
        expect.objectContaining({ unit: ROLLBACK_SERVICE, kind: 'failed' }),
      );
      expect(install.manager.state(KIOSK_SERVICE)).toBe('failed');
      expect(install.manager.events.filter((e) => e.unit === KIOSK_SERVICE).at(-1)?.kind).toBe('on-failure');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGKILL of the guard while it lands a release the runtime staged leaves v0.1.1 running; the next switch request lands it',
    async () => {
      const next = await appBundle(work, '0.1.2', undefined, 12 * 1024 * 1024);
      const install = await runningOnGood([next]);
      const releases = join(install.root, 'releases');
      // what the runtime does for an update-software order (src/update/runtime-update.ts): stage
      // with the TUF updater into its own state directory, write SHA256SUMS, ask for the switch
      const staging = stagingRoot(install.state);
      await seedTrustedRoot(install.root, staging);
      const config = JSON.parse(await readFile(install.configFile, 'utf8')) as {
        update: { repositoryUrl: string; caFile: string };
      };
      const staged = await stageUpdate({
        root: staging,
        source: {
          kind: 'https',
          baseUrl: config.update.repositoryUrl,
          ca: await readFile(config.update.caFile),
        },
        host: hostAt('0.1.1'),
        version: '0.1.2',
      });
      await writeChecksums(staged.dir);
      const requestSwitch = () => writeFile(switchRequestFile(install.state), '0.1.2\n');
      await requestSwitch();

      // the restart for the switch; the guard (ExecStartPre=+) is SIGKILLed as soon as its copy
      // into releases/.landing-0.1.2 begins
      let killed = false;
      const watcher = watch(releases, (_event, name) => {
        if (name === '.landing-0.1.2' && !killed) {
          killed = true;
          install.manager.kill(KIOSK_SERVICE, 'control', 'SIGKILL');
        }
      });
      const from = statuses.received.length;
      await restart(install);
      await install.manager.until(() => killed, DEADLINE_MS, 'the landing');
      watcher.close();
      // Restart=always starts it again: the guard dropped the request before copying, so v0.1.1 runs
      await connectedAs(install, '0.1.1', from);
      expect(install.manager.events).toContainEqual(
        expect.objectContaining({
          unit: KIOSK_SERVICE,
          kind: 'restart',
          detail: expect.stringMatching(/^ExecStartPre exit 128/),
        }),
      );
      expect(await currentVersion(install.root)).toBe('0.1.1');
      expect(await readdir(releases)).not.toContain('0.1.2');

      // the next switch request (the runtime asks again) lands it: 0.1.2 runs, on probation
      await requestSwitch();
      const again = statuses.received.length;
      await restart(install);
      await connectedAs(install, '0.1.2', again);
      expect(await currentVersion(install.root)).toBe('0.1.2');
      expect((await readdir(releases)).sort()).toEqual(['0.1.1', '0.1.2']);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGKILL during the download and during the landing leaves v0.1.1 current and restartable; a retried update completes',
    async () => {
      const next = await appBundle(work, '0.1.2', undefined, 12 * 1024 * 1024);
      const install = await runningOnGood([next]);
      const config = JSON.parse(await readFile(install.configFile, 'utf8')) as {
        update: { repositoryUrl: string; caFile: string };
      };
      const downloads = join(install.root, 'update', 'downloads');
      const releases = join(install.root, 'releases');
      const stage = (maxBytesPerSecond: number) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            join(process.cwd(), 'test', 'integration', 'update', 'download-child.ts'),
            JSON.stringify({
              root: install.root,
              baseUrl: config.update.repositoryUrl,
              caFile: config.update.caFile,
              version: '0.1.2',
              hostVersion: '0.1.1',
              target: HOST_TARGET,
              nodeAbi: HOST_ABI,
              maxBytesPerSecond,
            }),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        children.push(child);
        return { child, exited: new Promise((resolve) => child.once('exit', resolve)) };
      };
      const partBytes = async () => {
        const names = await readdir(downloads).catch(() => [] as string[]);
        const part = names.find((name) => name.endsWith('.part'));
        return part ? (await stat(join(downloads, part))).size : 0;
      };
      const expectStillOnGood = async (what: string) => {
        expect(await currentVersion(install.root), what).toBe('0.1.1');
        expect(await readdir(releases), what).not.toContain('0.1.2');
        const from = statuses.received.length;
        await restart(install);
        await connectedAs(install, '0.1.1', from);
      };

      // 1. killed mid-transfer: a capped download (1 MiB/s), SIGKILLed once 1 MiB is on disk
      const download = stage(1024 * 1024);
      await install.manager.until(
        async () => (await partBytes()) >= 1024 * 1024,
        DEADLINE_MS,
        'a partial download',
      );
      download.child.kill('SIGKILL');
      await download.exited;
      const partial = await partBytes();
      expect(partial).toBeLessThan(12 * 1024 * 1024);
      await expectStillOnGood('after SIGKILL during the download');

      // 2. killed during the landing: the download completes (resumed), the bundle is verified and
      // unpacked into releases/.staging-0.1.2; SIGKILL as soon as that directory appears, before
      // the rename into releases/0.1.2
      let sawStaging = false;
      const landing = stage(0);
      const watcher = watch(releases, (_event, name) => {
        if (name === '.staging-0.1.2' && !sawStaging) {
          sawStaging = true;
          landing.child.kill('SIGKILL');
        }
      });
      await landing.exited;
      watcher.close();
      expect(sawStaging).toBe(true);
      // the unpacked tree was left where the kill found it, short of its rename into releases/0.1.2
      expect(await readdir(releases)).toContain('.staging-0.1.2');
      await expectStillOnGood('after SIGKILL during the landing');

      // 3. the retry completes: the download is not fetched again, the release lands, and runs
      const result = (await install.update('0.1.2')) as {
        version: string;
        received: number;
        switched: boolean;
      };
      expect(result).toMatchObject({ version: '0.1.2', switched: true, received: 0 });
      expect(await readdir(releases)).toEqual(expect.arrayContaining(['0.1.1', '0.1.2']));
      expect(await readdir(releases)).not.toContain('.staging-0.1.2');
      const from = statuses.received.length;
      await restart(install);
      await connectedAs(install, '0.1.2', from);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "a technician's `kiosk update` without --now is switched to by the running kiosk: it restarts itself at idle and the guard switches",
    async () => {
      const next = await appBundle(work, '0.1.2');
      const install = await runningOnGood([next]);
      const from = statuses.received.length;
      const restartsBefore = install.manager.events.filter((e) => e.kind === 'restart').length;
      expect(await install.update('0.1.2', { now: false })).toMatchObject({
        version: '0.1.2',
        switched: false,
      });
      // nobody restarts the unit here: the kiosk exits at idle (no session runs) and Restart= starts it
      await connectedAs(install, '0.1.2', from);
      expect(await currentVersion(install.root)).toBe('0.1.2');
      expect((await readFile(join(install.root, 'update', 'previous'), 'utf8')).trim()).toBe('0.1.1');
      expect(await readdir(join(install.root, 'update'))).not.toContain('pending');
      expect(install.manager.events.filter((e) => e.kind === 'restart').length).toBeGreaterThan(
        restartsBefore,
      );
      expect(install.manager.log()).toContain('release-guard: switched 0.1.1 -> 0.1.2 (on probation)');
    },
    TEST_TIMEOUT_MS,
  );
});

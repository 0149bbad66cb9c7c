/**
 * A kiosk install in a temporary root for the rollback tests (issue 14, item 3), run by the
 * systemd harness (unit-runner.ts) from the real unit files:
 *
 *   <dir>/opt        /opt/cccd-kiosk: releases/, current, update/, deploy/release-guard.sh (copied
 *                    from the repository, as deploy/install.sh installs it)
 *   <dir>/var        /var/lib/cccd-kiosk: the runtime's dataDir (store, rollback-request, release-good)
 *   <dir>/etc/kiosk.json  /etc/cccd-kiosk/kiosk.json
 *
 * Releases are real bundles packed by the production code (src/update/bundle.ts) from this
 * project's built `dist/`, package.json and run-time assets (as src/update/build-app.ts takes them), published to a TUF repository served over loopback
 * HTTPS and installed with the real `kiosk update` CLI. One shortcut, for test time: a bundle
 * carries no node_modules; <dir>/node_modules links to the project's, where Node's module
 * resolution finds it from every release (`npm run bundle` packs production node_modules; the
 * bundle tests cover that).
 */
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KioskConfigInput } from '../../../src/config/index.js';
import { copyRuntimeAssets } from '../../../src/update/build-app.js';
import { packBundle } from '../../../src/update/bundle.js';
import { markReleaseGood } from '../../../src/update/releases.js';
import type { RepositoryServer } from '../../../src/update/serve.js';
import {
  HOST_ABI,
  HOST_TARGET,
  type FakeBundle,
  makeKeys,
  makeKioskRoot,
  makeOpsPki,
  makeRepository,
  publish,
  serveRepository,
  tempDir,
} from './fixtures.js';
import { ServiceManager } from './unit-runner.js';

const PROJECT = process.cwd();
export const KIOSK_SERVICE = 'cccd-kiosk.service';

/**
 * The releases are this project's build: refuse a missing or stale dist/ with a clear message
 * rather than test old code (`.ci/run` builds before `npm run test:update`).
 */
export async function assertBuilt(): Promise<void> {
  const built = await stat(join(PROJECT, 'dist', 'src', 'cli', 'kiosk.js')).catch(() => undefined);
  if (!built) throw new Error('rollback tests run the built app: run `npm run build` first');
  const sources = await readdir(join(PROJECT, 'src'), { recursive: true });
  for (const source of sources.filter((name) => name.endsWith('.ts'))) {
    if ((await stat(join(PROJECT, 'src', source))).mtimeMs > built.mtimeMs)
      throw new Error(`rollback tests run the built app, and src/${source} is newer: run \`npm run build\``);
  }
}

/** Changes made to a copy of the app tree: a release with a defect of its own. */
export type AppPatch = (appDir: string) => Promise<void>;

/** Packs this project's built app as release `version`, after `patch`, through the production packer. */
export async function appBundle(
  work: string,
  version: string,
  patch?: AppPatch,
  padBytes = 0,
): Promise<FakeBundle> {
  const stage = join(work, `app-${version}-${Math.random().toString(16).slice(2)}`);
  const app = join(stage, 'app');
  await mkdir(app, { recursive: true });
  await cp(join(PROJECT, 'dist'), join(app, 'dist'), { recursive: true });
  await copyRuntimeAssets(PROJECT, app);
  const pkg = JSON.parse(await readFile(join(PROJECT, 'package.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(app, 'package.json'), JSON.stringify({ ...pkg, version }));
  if (padBytes > 0) {
    const { randomBytes } = await import('node:crypto');
    // incompressible: the download and the unpack take a while, so a SIGKILL lands inside them
    await writeFile(join(app, 'assets.bin'), randomBytes(padBytes));
  }
  await patch?.(app);
  const file = join(stage, `cccd-kiosk-${version}.tar.gz`);
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

/** 0.1.2 whose runtime module throws as it loads: the process exits before it is ready. */
export const exitsAtStart: AppPatch = async (app) => {
  await writeFile(join(app, 'dist', 'src', 'main.js'), "throw new Error('0.1.2: broken build');\n");
};

/** 0.1.2 whose link module dials a port where nothing listens: it runs but never reaches the broker. */
export const neverConnects: AppPatch = async (app) => {
  const file = join(app, 'dist', 'src', 'link', 'link.js');
  const code = await readFile(file, 'utf8');
  const patched = code.replace(
    'mqtt.connect(url, clientOptions)',
    "mqtt.connect('mqtts://127.0.0.1:9', clientOptions)",
  );
  if (patched === code) throw new Error('rollback rig: the link module no longer has the patched call');
  await writeFile(file, patched);
};

export interface Broker {
  tlsUrl: string;
  ca: string;
  cert: string;
  key: string;
}

export interface KioskInstall {
  dir: string;
  root: string;
  state: string;
  configFile: string;
  repo: string;
  keys: ReturnType<typeof makeKeys>;
  server: RepositoryServer;
  manager: ServiceManager;
  /**
   * `kiosk update --version V --now --json` run from the given CLI (the installed release's), or
   * without --now (`now: false`): a technician's install that the running kiosk switches to at idle
   */
  update(version: string, options?: { cli?: string; now?: boolean }): Promise<unknown>;
  publish(bundles: FakeBundle[]): Promise<void>;
  close(): Promise<void>;
}

export interface InstallOptions {
  kioskId: string;
  broker: Broker;
  opsPublicKey: string;
  uiPort: number;
  /** RestartSec= scale for test speed (the unit's 3 s × this) */
  restartSecScale: number;
}

/** A fresh install root with its own TUF repository and HTTPS server; nothing installed yet. */
export async function makeInstall(options: InstallOptions): Promise<KioskInstall> {
  const dir = tempDir('rollback');
  const root = join(dir, 'opt');
  const state = join(dir, 'var');
  const repo = join(dir, 'repo');
  const pkiDir = join(dir, 'ops-pki');
  await Promise.all(
    [state, repo, pkiDir, join(root, 'deploy'), join(dir, 'etc'), join(dir, 'run')].map((d) =>
      mkdir(d, { recursive: true }),
    ),
  );
  await symlink(join(PROJECT, 'node_modules'), join(dir, 'node_modules'));
  await copyFile(join(PROJECT, 'deploy', 'release-guard.sh'), join(root, 'deploy', 'release-guard.sh'));
  const keys = makeKeys();
  await makeRepository(repo, keys);
  await makeKioskRoot(root, repo);
  const pki = makeOpsPki(pkiDir);
  const server = await serveRepository({ dir: repo, cert: pki.serverCert, key: pki.serverKey });
  const configFile = join(dir, 'etc', 'kiosk.json');
  const config: KioskConfigInput = {
    kiosk: { id: options.kioskId },
    mqtt: {
      url: options.broker.tlsUrl,
      protocolVersion: 5,
      reconnect: { minMs: 100, maxMs: 1000 },
      tls: { ca: options.broker.ca, cert: options.broker.cert, key: options.broker.key },
    },
    dataDir: state,
    ui: { host: '127.0.0.1', port: options.uiPort },
    log: { level: 'info' },
    fleet: {
      opsPublicKeys: [options.opsPublicKey],
      // a short probation, set by the file: the release that never reaches the broker is judged in seconds
      probation: { brokerUnreachableMs: 3000, partDownMs: 30_000, maxStarts: 3 },
    },
    update: {
      installRoot: root,
      repositoryUrl: server.url,
      caFile: join(pkiDir, 'ca.pem'),
      maxBytesPerSecond: 0,
      probationMinutes: 10,
    },
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const manager = new ServiceManager({
    unitDir: join(PROJECT, 'deploy', 'systemd'),
    paths: {
      '/etc/cccd-kiosk/kiosk.json': configFile,
      '/opt/cccd-kiosk': root,
      '/var/lib/cccd-kiosk': state,
      '/usr/bin/node': process.execPath,
    },
    restartSecScale: options.restartSecScale,
    runDir: join(dir, 'run'),
  });
  const run = promisify(execFile);
  return {
    dir,
    root,
    state,
    configFile,
    repo,
    keys,
    server,
    manager,
    async update(
      version,
      { cli = join(root, 'current', 'app', 'dist', 'src', 'cli', 'kiosk.js'), now = true } = {},
    ) {
      const { stdout } = await run(process.execPath, [
        cli,
        'update',
        '--config',
        configFile,
        '--version',
        version,
        ...(now ? ['--now'] : []),
        '--json',
      ]);
      // the report is the last line (the CLI may log before it)
      const report = stdout.trim().split('\n').at(-1) ?? '';
      try {
        return JSON.parse(report) as unknown;
      } catch {
        throw new Error(`kiosk update printed no JSON report: ${stdout.slice(-2000)}`);
      }
    },
    publish: (bundles) => publish(repo, keys, bundles),
    async close() {
      await manager.close();
      await server.close();
    },
  };
}

/** The first install (deploy/install.sh): release `version` current and not on probation. */
export async function installFirst(install: KioskInstall, version: string): Promise<void> {
  await install.update(version, { cli: join(PROJECT, 'dist', 'src', 'cli', 'kiosk.js') });
  await markReleaseGood(install.root);
}

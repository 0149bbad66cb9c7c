/**
 * `kiosk demo`: the rig in a child process (src/cli/demo-rig.ts) and a kiosk runtime wired to its
 * emulators, exactly as `kiosk start` wires a configured kiosk.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/index.js';
import { chooseBootConfig, generateOpsKeyPair } from '../fleet/index.js';
import { createKioskRuntime, exitOnSignals, type KioskRuntime } from '../main.js';
import { superviseInProcess } from '../runtime/restart.js';
import { recoverStoreFile, storeFile } from '../store/index.js';
import { createLogger, type Logger } from '../util/log.js';
import { DEMO_CITIZENS } from './citizens.js';
import { rigDemoControl } from './panel.js';
import { DEMO_ENROL_KIOSK_ID, type DemoRigReady } from './rig.js';

export interface DemoOptions {
  dataDir: string;
  uiPort: number;
  brokerPort: number;
  kioskId: string;
  logLevel: string;
  /** false: only the world around a kiosk (broker, registry, emulators), to provision a kiosk against */
  kiosk?: boolean;
  /** identification attempts a minute at the touchscreen (issue 12); benches raise it */
  identifyPerMinute?: number;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}

/** What the rig child process needs: its directory, its broker, the kiosk it stages pickups for. */
export interface RigProcessOptions {
  dataDir: string;
  brokerPort: number;
  /** join this broker instead of starting the embedded one */
  brokerUrl?: string;
  kioskId: string;
  logLevel: string;
}

/** Starts the rig child process (src/cli/demo-rig.ts) and waits for its `ready` message. */
export function spawnRig(options: RigProcessOptions): Promise<{ child: ChildProcess; ready: DemoRigReady }> {
  const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const entry = fileURLToPath(new URL(`../cli/demo-rig.${extension}`, import.meta.url));
  // from source the rig needs tsx; a caller that is not itself run by tsx (a test runner) lacks it
  const loader =
    extension === 'ts' && !process.execArgv.some((arg) => arg.includes('tsx')) ? ['--import', 'tsx'] : [];
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      ...loader,
      entry,
      '--data-dir',
      options.dataDir,
      '--broker-port',
      String(options.brokerPort),
      '--kiosk-id',
      options.kioskId,
      ...(options.brokerUrl ? ['--broker-url', options.brokerUrl] : []),
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: { ...process.env, KIOSK_LOG_LEVEL: options.logLevel },
    },
  );
  return new Promise((resolveReady, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`demo rig exited before it was ready (${code ?? signal})`)),
    );
    child.on('message', (message: DemoRigReady) => {
      if (message?.type === 'ready') resolveReady({ child, ready: message });
    });
  });
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const log = createLogger({ level: options.logLevel, pretty: true });
  const dataDir = resolve(options.dataDir);
  // filled in as start-up proceeds; a signal during start-up stops whatever exists
  const parts: { rig?: ChildProcess; runtime?: KioskRuntime } = {};
  const stopRig = async () => {
    const child = parts.rig;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 1500))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  exitOnSignals(
    async () => {
      await parts.runtime?.stop();
      await stopRig();
    },
    log,
    2800,
  );
  const started = await spawnRig({ ...options, dataDir: join(dataDir, 'rig') });
  parts.rig = started.child;
  started.child.on('exit', (code, signal) => {
    if (code !== 0) log.error({ code, signal }, 'demo rig (broker, registry, emulators) exited');
  });
  if (options.kiosk === false) {
    const { brokerUrl, devices, enrolmentTokenFile, registryKeys } = started.ready;
    const registryFlags = registryKeys
      ? ` --registry-signing-key ${registryKeys.signing} --registry-sealing-key ${registryKeys.sealing}`
      : '';
    process.stdout.write(
      [
        `cccd-kiosk demo world ready (no kiosk): broker ${brokerUrl}, pid ${process.pid}; Ctrl-C stops`,
        `  enrolment token (one use): ${enrolmentTokenFile ?? '(none)'}`,
        `  devices: ${Object.entries(devices)
          .map(([name, path]) => `${name} ${path}`)
          .join(', ')}`,
        `  provision: kiosk provision --non-interactive --config <file> --kiosk-id ${DEMO_ENROL_KIOSK_ID} --broker ${brokerUrl} --mqtt-version 4 --token "$(cat ${enrolmentTokenFile ?? '<token file>'})"${registryFlags} --scanner ${devices.scanner} --ports ${devices.fingerprint} ${devices.printer} ${devices.dispenser}`,
        '',
      ].join('\n'),
    );
    return;
  }
  const uiPort = options.uiPort === 0 || (await portIsFree(options.uiPort)) ? options.uiPort : 0;
  const config = parseConfig(
    {
      kiosk: { id: options.kioskId, site: 'demo' },
      mqtt: {
        url: started.ready.brokerUrl,
        protocolVersion: 4,
        keepaliveSeconds: 10,
        reconnect: { minMs: 200, maxMs: 5000 },
        // telemetry is not retained: a dashboard opened now shows the demo kiosk's parts within 10 s
        telemetryIntervalMs: 10_000,
      },
      dataDir: join(dataDir, 'kiosk'),
      ui: { host: '127.0.0.1', port: uiPort },
      devices: {
        scanner: { path: started.ready.devices.scanner, baudRate: 9600 },
        fingerprint: { path: started.ready.devices.fingerprint, baudRate: 57600 },
        printer: { path: started.ready.devices.printer, baudRate: 9600 },
        dispenser: { path: started.ready.devices.dispenser, baudRate: 57600 },
        cardReader: {
          kind: 'pcsc' as const,
          reader: started.ready.devices.cardReader,
          pcscdSocket: started.ready.devices.pcscdSocket,
        },
        probeIntervalMs: 2000,
      },
      sessions: {
        ...(started.ready.trustList ? { trustList: started.ready.trustList } : {}),
        ...(options.identifyPerMinute
          ? { identifyRateLimit: { attempts: options.identifyPerMinute, windowMs: 60_000 } }
          : {}),
      },
      fleet: {
        opsPublicKeys: [demoOpsKey(join(dataDir, 'ops'))],
        ...(started.ready.registryKeys
          ? {
              registrySigningKey: started.ready.registryKeys.signing,
              registrySealingKey: started.ready.registryKeys.sealing,
            }
          : {}),
      },
      log: { level: options.logLevel, pretty: true },
    },
    'demo',
  );
  // The supervisor: a restart (operations' `restart`, or pushed settings that take effect at start)
  // rebuilds the runtime from the file's config with the stored pushed settings, as systemd would
  // start `kiosk start` again; after the first start the UI keeps the port it bound.
  let fileConfig = config;
  const runtime = await superviseInProcess(
    async () => {
      // as `kiosk start`: a corrupt store goes aside before the pushed settings are read from it
      await recoverStoreFile(storeFile(fileConfig), log.child({ room: 'store' }));
      return createKioskRuntime(await chooseBootConfig(fileConfig, log), log, {
        demo: rigDemoControl(join(dataDir, 'rig', 'rig.sock')),
        fileConfig,
      });
    },
    (current) => {
      parts.runtime = current;
    },
    log,
  );
  // `kiosk doctor --config <data dir>/kiosk.json` checks the demo's devices (through the running
  // kiosk while it runs; see src/cli/doctor.ts). The UI port is the one actually bound.
  const uiBound = { ...config.ui, port: Number(new URL(runtime.ui.url).port) };
  fileConfig = { ...config, ui: uiBound };
  writeFileSync(join(dataDir, 'kiosk.json'), `${JSON.stringify({ ...config, ui: uiBound }, null, 2)}\n`);
  // "Ready" means the page shows every part up: give the link a moment to reach the broker.
  const linkDeadline = Date.now() + 5000;
  while (!runtime.link.connected && Date.now() < linkDeadline)
    await new Promise((done) => setTimeout(done, 20));
  // … and the devices: the dispenser is ok once its Firmata handshake is through.
  const devicesReady = () =>
    Object.values(runtime.devices.summary()).every((state) => state === 'ok' || state === 'disabled');
  while (!devicesReady() && Date.now() < linkDeadline) await new Promise((done) => setTimeout(done, 20));
  // The one line a newcomer waits for (issue: "prints one line with the URL when ready").
  void loadDemoVault(runtime, DEMO_CITIZENS.length, log);
  process.stdout.write(
    `cccd-kiosk demo ready: ${runtime.ui.url}  (kiosk ${config.kiosk.id}, broker ${started.ready.brokerUrl}, pid ${process.pid}; Ctrl-C stops)\n`,
  );
}

/**
 * The demo's operations key pair, `<data dir>/ops/ops.key` and `ops.pub` (made on first run, as
 * `kiosk-ops keys generate` makes them), pinned by the demo kiosk: `kiosk-ops serve` and
 * `kiosk-ops cmd send` with `--key <data dir>/ops/ops.key` steer the demo kiosk. Returns ops.pub.
 */
function demoOpsKey(dir: string): string {
  const keyFile = join(dir, 'ops.key');
  const pubFile = join(dir, 'ops.pub');
  if (!existsSync(keyFile) || !existsSync(pubFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = generateOpsKeyPair();
    writeFileSync(keyFile, pair.privateKeyPem, { mode: 0o600 });
    writeFileSync(pubFile, `${pair.publicKey}\n`);
  }
  return readFileSync(pubFile, 'utf8').trim();
}

/**
 * The demo technician's `kiosk vault load`: once the registry's manifest entries have arrived (they
 * wait for the kiosk's sealing key), identify the cards in the first `count` slots.
 */
async function loadDemoVault(runtime: KioskRuntime, count: number, log: Logger): Promise<void> {
  const deadline = Date.now() + 15_000;
  try {
    while ((await runtime.vault.awaitingLoad()).length < count && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 100));
    const result = await runtime.loadVault(Array.from({ length: count }, (_, slot) => slot));
    log.info({ loaded: result.loaded.length, unmatched: result.unmatched }, 'demo: vault loaded');
  } catch (error) {
    log.error({ err: (error as Error).message }, 'demo: vault load failed');
  }
}

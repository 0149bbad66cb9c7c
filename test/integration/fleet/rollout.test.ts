/**
 * Staged rollouts (issue 13) on a real Mosquitto, to real kiosk runtimes (FleetService applying
 * signed config and answering `config.result`, retained statuses, telemetry): a canary then a rate
 * completing; aborts by a kiosk refusing and by a health regression; pause and resume; and the
 * `kiosk-ops rollout` process SIGKILLed mid-rollout, then resumed by a new process.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { generateOpsKeyPair, privateKeyFromPem, signConfig } from '../../../src/fleet/index.js';
import { createKioskRuntime, type KioskRuntime } from '../../../src/main.js';
import { topics } from '../../../src/link/topics.js';
import {
  configDriver,
  MqttFleetFeed,
  RolloutEngine,
  type RolloutPlan,
  type RolloutProgress,
  type RolloutRecord,
  RolloutStore,
} from '../../../src/ops/rollout.js';
import { createPtyPair, type PtyPair, ScannerEmulator } from '../../../devices/index.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { ROOT } from '../../helpers/processes.js';
import { sleep, until } from './fleet-rig.js';

const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));
const KIOSKS = 4;

interface Kiosk {
  id: string;
  runtime: KioskRuntime;
  unplugScanner?: () => Promise<void>;
  replugScanner?: () => Promise<void>;
  stop: () => Promise<void>;
}

/** A kiosk runtime on the shared broker; with a scanner on a pty when its health is to be broken. */
async function startKiosk(
  id: string,
  broker: MosquittoInstance,
  opsPublicKey: string,
  withScanner: boolean,
): Promise<Kiosk> {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-kiosk-'));
  const scannerDevice = join(dir, 'dev', 'scanner');
  const scannerEmulatorPath = join(dir, 'dev', 'scanner.emu');
  let pty: PtyPair | undefined;
  let emulator: ScannerEmulator | undefined;
  if (withScanner) {
    pty = await createPtyPair(scannerDevice, scannerEmulatorPath);
    emulator = new ScannerEmulator({ path: scannerEmulatorPath });
    await emulator.start();
  }
  const config = parseConfig(
    {
      kiosk: { id },
      mqtt: { url: broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
      dataDir: join(dir, 'kiosk'),
      ui: { port: 0 },
      ...(withScanner ? { devices: { scanner: { path: scannerDevice, baudRate: 9600 } } } : {}),
      fleet: { opsPublicKeys: [opsPublicKey], rollbackAfterMs: 1500 },
    },
    'test',
  );
  const runtime = createKioskRuntime(config, quietLogger());
  await runtime.start();
  await until(() => runtime.link.connected && (!withScanner || runtime.devices.summary().scanner === 'ok'));
  return {
    id,
    runtime,
    ...(withScanner
      ? {
          unplugScanner: async () => {
            await emulator?.stop();
            await pty?.close();
          },
          replugScanner: async () => {
            pty = await createPtyPair(scannerDevice, scannerEmulatorPath);
            await emulator?.start();
          },
        }
      : {}),
    stop: async () => {
      await runtime.stop();
      await emulator?.stop();
      await pty?.close();
    },
  };
}

const kioskOutcomes = (record: RolloutRecord) =>
  Object.fromEntries(record.order.map((id) => [id, record.kiosks[id]?.outcome]));

function plan(overrides: Partial<RolloutPlan> & Pick<RolloutPlan, 'canary' | 'rate'>): RolloutPlan {
  return { abort: { maxFailures: 0, ackTimeoutMs: 30_000, soakMs: 200 }, ...overrides };
}

describe('staged rollouts to kiosk runtimes over Mosquitto', () => {
  let broker: MosquittoInstance;
  let kiosks: Kiosk[] = [];
  let ids: string[] = [];
  let opsClient: MqttClient;
  let feed: MqttFleetFeed;
  const ops = generateOpsKeyPair();
  const opsKey = privateKeyFromPem(ops.privateKeyPem);
  const opsDir = mkdtempSync(join(tmpdir(), 'rollout-ops-'));
  const store = new RolloutStore(opsDir);
  let engine: RolloutEngine | undefined;
  const newEngine = () => {
    engine = new RolloutEngine({ store, fleet: feed, drivers: { config: configDriver(opsKey) }, tickMs: 50 });
    return engine;
  };
  const configPayload = (version: number, requestMs: number) => ({
    kind: 'config' as const,
    version,
    settings: { timeouts: { requestMs } },
    expiresInMs: 3600_000,
  });
  const kioskVersion = (kiosk: Kiosk | undefined) => kiosk?.runtime.fleet.configVersions.kiosk;

  beforeAll(async () => {
    broker = await startMosquitto();
    ids = Array.from({ length: KIOSKS }, (_, index) => `ro-${process.pid}-${index}`);
    kiosks = await Promise.all(ids.map((id, index) => startKiosk(id, broker, ops.publicKey, index === 0)));
    opsClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    feed = new MqttFleetFeed(opsClient);
    await feed.start();
    await until(() => ids.every((id) => feed.snapshot(id)?.online === true));
  }, 60_000);

  afterEach(async () => {
    await engine?.close();
    engine = undefined;
  });

  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await feed?.stop();
    await opsClient?.endAsync();
    await Promise.all(kiosks.map((kiosk) => kiosk.stop()));
    await broker?.stop();
  });

  it('sends the canary first, soaks it, then the rest at a constant rate, and keeps the record', async () => {
    const rollouts = newEngine();
    const progress: RolloutProgress[] = [];
    rollouts.onProgress((event) => progress.push(event));
    const canary = ids[1] as string;
    const started = rollouts.start({
      payload: configPayload(10, 7001),
      plan: plan({ canary: { kiosks: [canary] }, rate: { kind: 'constant', perStep: 2 } }),
      targets: ids,
      by: 'operator-a (key test)',
    });
    const done = await rollouts.settled(started.id);

    expect(done.state).toBe('completed');
    expect(Object.values(kioskOutcomes(done))).toEqual(ids.map(() => 'healthy'));
    expect(done.steps.map((step) => step.kiosks.length)).toEqual([1, 2, 1]);
    expect(done.steps[0]?.kiosks).toEqual([canary]);
    // no kiosk outside the canary was sent anything before the canary's soak ended
    const canaryEnded = done.steps[0]?.endedAt ?? Infinity;
    for (const id of ids.filter((other) => other !== canary))
      expect(done.kiosks[id]?.pushedAt).toBeGreaterThanOrEqual(canaryEnded);
    // "applied" is what the kiosks' runtimes use
    for (const kiosk of kiosks) {
      expect(kiosk.runtime.fleet.config.timeouts.requestMs).toBe(7001);
      expect(kioskVersion(kiosk)).toBe(10);
    }
    // progress: a step started, then done, three times, in order
    expect(
      progress
        .filter((event) => event.kind === 'step-started' || event.kind === 'step-done')
        .map((event) => `${event.kind}:${event.step}`),
    ).toEqual([
      'step-started:0',
      'step-done:0',
      'step-started:1',
      'step-done:1',
      'step-started:2',
      'step-done:2',
    ]);
    expect(progress.at(-1)).toMatchObject({ kind: 'completed', counts: { healthy: KIOSKS, failed: 0 } });
    // the record on disk: who, what, when, each kiosk's outcome
    const kept = store.load(started.id);
    expect(kept).toMatchObject({ state: 'completed', createdBy: 'operator-a (key test)' });
    expect(kept?.history.map((entry) => entry.action)).toEqual([
      'start',
      'step',
      'step',
      'step',
      'step',
      'step',
      'step',
      'complete',
    ]);
    expect(kioskOutcomes(kept as RolloutRecord)).toEqual(kioskOutcomes(done));
  });

  it('aborts when a canary kiosk refuses, and sends nothing to the others', async () => {
    // the canary already runs a newer config of its own: it refuses version 20 as not newer
    const canary = kiosks[2] as Kiosk;
    const newer = signConfig({
      version: 50,
      settings: { timeouts: { requestMs: 7050 } },
      kioskId: canary.id,
      key: opsKey,
    });
    await opsClient.publishAsync(topics.config(canary.id), JSON.stringify(newer), { qos: 1, retain: true });
    await until(() => kioskVersion(canary) === 50);

    const rollouts = newEngine();
    const started = rollouts.start({
      payload: configPayload(20, 7020),
      plan: plan({ canary: { kiosks: [canary.id] }, rate: { kind: 'exponential', first: 1 } }),
      targets: ids,
      by: 'operator-a',
    });
    const done = await rollouts.settled(started.id);

    expect(done.state).toBe('aborted');
    expect(done.reason).toMatch(/failure threshold/);
    expect(done.kiosks[canary.id]).toMatchObject({
      outcome: 'refused',
      detail: expect.stringMatching(/not-newer/),
    });
    for (const kiosk of kiosks.filter((other) => other !== canary)) {
      expect(done.kiosks[kiosk.id]?.outcome).toBe('waiting');
      expect(kioskVersion(kiosk)).toBe(10);
    }
    expect(store.load(started.id)?.state).toBe('aborted');
  });

  it('aborts on a health regression of an updated canary kiosk', async () => {
    const canary = kiosks[0] as Kiosk;
    const rollouts = newEngine();
    let unplugged: Promise<void> | undefined;
    rollouts.onProgress((event) => {
      // the fault is injected once the canary took the config, during its soak
      if (event.kind === 'kiosk' && event.kioskId === canary.id && event.outcome === 'applied')
        unplugged ??= canary.unplugScanner?.();
    });
    const started = rollouts.start({
      payload: configPayload(100, 7100),
      // a soak long enough that only a regression can end the canary step
      plan: {
        canary: { kiosks: [canary.id] },
        rate: { kind: 'constant', perStep: 4 },
        abort: { maxFailures: 0, ackTimeoutMs: 30_000, soakMs: 600_000 },
      },
      targets: ids,
      by: 'operator-b',
    });
    const done = await rollouts.settled(started.id);
    await unplugged;

    expect(done.state).toBe('aborted');
    // the kiosk itself may roll back first (its own probation); either way the rollout stops
    expect(['unhealthy', 'rolled-back']).toContain(done.kiosks[canary.id]?.outcome);
    expect(done.kiosks[canary.id]?.detail).toBeTruthy();
    for (const id of ids.filter((other) => other !== canary.id))
      expect(done.kiosks[id]?.outcome).toBe('waiting');

    await canary.replugScanner?.();
    await until(
      () =>
        canary.runtime.devices.summary().scanner === 'ok' &&
        feed.snapshot(canary.id)?.devices.scanner === 'ok',
    );
  });

  it('pauses after the canary, sends nothing while paused, and completes once resumed', async () => {
    const rollouts = newEngine();
    let id = '';
    rollouts.onProgress((event) => {
      if (event.kind === 'step-done' && event.step === 0)
        rollouts.pause(id, 'operator-c', 'look at the canary');
    });
    const started = rollouts.start({
      payload: configPayload(200, 7200),
      plan: plan({ canary: { percent: 25 }, rate: { kind: 'exponential', first: 2 } }),
      targets: ids,
      by: 'operator-c',
    });
    id = started.id;
    await until(() => rollouts.status(id)?.state === 'paused');
    // many engine ticks pass while paused: no other kiosk is sent the config
    await sleep(600);
    const paused = rollouts.status(id) as RolloutRecord;
    expect(paused.state).toBe('paused');
    expect(paused.reason).toBe('look at the canary');
    expect(paused.steps).toHaveLength(1);
    const canary = paused.steps[0]?.kiosks[0] as string;
    expect(paused.kiosks[canary]?.outcome).toBe('healthy');
    for (const kiosk of kiosks.filter((other) => other.id !== canary)) {
      expect(paused.kiosks[kiosk.id]?.outcome).toBe('waiting');
      expect(kioskVersion(kiosk)).toBeLessThan(200);
    }
    expect(store.load(id)?.state).toBe('paused');

    rollouts.resume(id, 'operator-d');
    const done = await rollouts.settled(id);
    expect(done.state).toBe('completed');
    // canary 1 (25 % of 4), then 2, then 4 of which 1 is left
    expect(done.steps.map((step) => step.kiosks.length)).toEqual([1, 2, 1]);
    expect(Object.values(kioskOutcomes(done))).toEqual(ids.map(() => 'healthy'));
    for (const kiosk of kiosks) expect(kiosk.runtime.fleet.config.timeouts.requestMs).toBe(7200);
    expect(done.history.filter((entry) => entry.action === 'pause' || entry.action === 'resume')).toEqual([
      expect.objectContaining({ action: 'pause', by: 'operator-c', detail: 'look at the canary' }),
      expect.objectContaining({ action: 'resume', by: 'operator-d' }),
    ]);
  });

  it('`kiosk-ops rollout` SIGKILLed mid-rollout is taken over by a new process, paused and resumed from other shells, and completes', async () => {
    const cliDir = mkdtempSync(join(tmpdir(), 'rollout-cli-'));
    const keyFile = join(cliDir, 'ops.key');
    const settingsFile = join(cliDir, 'settings.json');
    writeFileSync(keyFile, ops.privateKeyPem, { mode: 0o600 });
    writeFileSync(settingsFile, JSON.stringify({ timeouts: { requestMs: 7300 } }));
    const brokerArgs = ['--url', broker.url, '--key', keyFile];
    const first = spawnOps([
      'rollout',
      'start',
      ...brokerArgs,
      '--config-version',
      '300',
      '--settings',
      settingsFile,
      '--kiosk',
      ids.join(','),
      '--canary',
      ids[3] as string,
      '--rate',
      'constant:1',
      '--soak',
      '2000',
      '--settle',
      '500',
      '--operator',
      'operator-e',
    ]);
    // killed as soon as step 2 has been sent, before its kiosk's answer is taken
    await until(() => first.lines.some((line) => line.kind === 'step-started' && line.step === 1), 60_000);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const id = first.lines[0]?.rolloutId as string;
    const interrupted = new RolloutStore(cliDir).load(id) as RolloutRecord;
    expect(interrupted.state).toBe('running');
    expect(interrupted.steps).toHaveLength(2);

    const second = spawnOps(['rollout', 'resume', id, ...brokerArgs, '--operator', 'operator-f']);
    await until(() => second.lines.some((line) => line.kind === 'resumed'), 60_000);
    // an operator in another shell pauses it, then resumes it: the driving process takes both
    const pause = await kioskOps([
      '--json',
      'rollout',
      'pause',
      id,
      '--key',
      keyFile,
      '--operator',
      'operator-g',
    ]);
    expect(pause.code).toBe(0);
    expect(JSON.parse(pause.stdout)).toMatchObject({ requested: 'pause', owner: { pid: second.child.pid } });
    await until(() => second.lines.some((line) => line.kind === 'paused'), 30_000);
    expect(new RolloutStore(cliDir).load(id)?.state).toBe('paused');
    const resume = await kioskOps([
      '--json',
      'rollout',
      'resume',
      id,
      ...brokerArgs,
      '--operator',
      'operator-g',
    ]);
    expect(resume.code).toBe(0);
    expect(JSON.parse(resume.stdout)).toMatchObject({ requested: 'resume' });

    const exit = await second.exited;
    expect(exit.code).toBe(0);
    const done = JSON.parse(second.stdout()) as RolloutRecord;
    expect(done.state).toBe('completed');
    expect(Object.values(kioskOutcomes(done))).toEqual(ids.map(() => 'healthy'));
    // each kiosk got the one message recorded for it: none was sent a second, refused version
    expect(done.steps.map((step) => step.kiosks.length)).toEqual([1, 1, 1, 1]);
    for (const kiosk of kiosks) {
      expect(kiosk.runtime.fleet.config.timeouts.requestMs).toBe(7300);
      expect(kioskVersion(kiosk)).toBe(300);
    }
    expect(done.createdBy).toMatch(/^operator-e \(key [0-9a-f]{16}\)$/);
    const actions = done.history.filter((entry) => entry.action === 'pause' || entry.action === 'resume');
    expect(actions).toEqual([
      expect.objectContaining({
        action: 'resume',
        by: expect.stringMatching(/^operator-f/),
        detail: expect.stringMatching(/taken over/),
      }),
      expect.objectContaining({ action: 'pause', by: 'operator-g' }),
      expect.objectContaining({ action: 'resume', by: expect.stringMatching(/^operator-g/) }),
    ]);
    // no step started while it was paused
    const pausedAt = actions[1]?.at ?? 0;
    const resumedAt = actions[2]?.at ?? 0;
    for (const step of done.steps)
      expect(step.startedAt < pausedAt || step.startedAt >= resumedAt).toBe(true);
    // the record stays for `status` and `list`
    const listed = await kioskOps(['--json', 'rollout', 'list', '--ops-dir', cliDir]);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id, state: 'completed', createdBy: done.createdBy }),
    ]);
  }, 180_000);

  it('`kiosk-ops rollout start` refuses invalid settings and unknown kiosks in one line, before signing', async () => {
    const cliDir = mkdtempSync(join(tmpdir(), 'rollout-cli-'));
    const keyFile = join(cliDir, 'ops.key');
    const settingsFile = join(cliDir, 'settings.json');
    writeFileSync(keyFile, ops.privateKeyPem, { mode: 0o600 });
    writeFileSync(settingsFile, JSON.stringify({ timeouts: { requestMs: 'soon' } }));
    const common = [
      'rollout',
      'start',
      '--url',
      broker.url,
      '--key',
      keyFile,
      '--config-version',
      '900',
      '--settle',
      '300',
    ];
    const invalid = await kioskOps([...common, '--settings', settingsFile, '--fleet']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^kiosk-ops: invalid settings: .*requestMs/),
    ]);
    writeFileSync(settingsFile, JSON.stringify({ timeouts: { requestMs: 7900 } }));
    const unknown = await kioskOps([...common, '--settings', settingsFile, '--kiosk', 'no-such-kiosk']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/no kiosk no-such-kiosk is known/),
    ]);
    expect(new RolloutStore(cliDir).list()).toEqual([]);
    for (const kiosk of kiosks) expect(kioskVersion(kiosk)).toBe(300);
  }, 60_000);
});

/** `kiosk-ops` as an operator runs it; waits for its exit. */
async function kioskOps(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', OPS_CLI, ...args],
      {
        cwd: ROOT,
      },
    );
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

/** ops processes still running (killed after the tests, should one fail midway) */
const running = new Set<ChildProcess>();

/** `kiosk-ops --json …` left running; its progress lines (JSON on stderr) are collected. */
function spawnOps(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', OPS_CLI, '--json', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('close', () => running.delete(child));
  const lines: RolloutProgress[] = [];
  let buffered = '';
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as RolloutProgress);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, exited, stdout: () => stdout };
}

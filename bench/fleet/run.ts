/**
 * `npm run bench:fleet` (issue 13, item 5): BENCH_KIOSKS simulated kiosks (default 10,000) on a
 * real Mosquitto. Every kiosk runs the real `FleetService` on its own SQLite store with its own
 * `KioskLink` (mqtt.js client): see kiosk-worker.ts. The kiosks live in worker processes
 * (BENCH_PER_WORKER each, default 2,000) because one process may hold only `ulimit -n`
 * descriptors; this process is the operations side.
 *
 * Figures:
 * 1. one signed config pushed on the fleet topic: time until operations received every kiosk's
 *    `config.result` "applied" (target ≤ 10 s; median of 3 pushes). Baseline, same run: the same
 *    fan-out answered at once by every kiosk with no checks (broker + clients, no FleetService).
 * 2. the broker stopped for 15 s and started again: the busiest second of reconnects as a share of
 *    the fleet (target ≤ 10 %), counted client-side (CONNACK received, wall clock). Baseline, same
 *    run: the busiest second of the fleet's first connect, which is all at once (no backoff).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { generateOpsKeyPair, privateKeyFromPem, signConfig } from '../../src/fleet/index.js';
import { topics } from '../../src/link/topics.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { parseConfig } from '../../src/config/index.js';
import { modelOutage } from '../../src/link/reconnect.js';
import { kioskIdOf, type ParentMessage, type WorkerMessage, type WorkerSpec } from './protocol.js';

const KIOSKS = Number(process.env.BENCH_KIOSKS ?? 10_000);
const PER_WORKER = Number(process.env.BENCH_PER_WORKER ?? 2000);
const OUTAGE_MS = Number(process.env.BENCH_OUTAGE_MS ?? 15_000);
const ECHO_TOPIC = 'cccd/v1/bench/echo';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const cpus = availableParallelism();
const descriptorLimit = () => execFileSync('sh', ['-c', 'ulimit -n']).toString().trim();

/** Waits for `condition`; past the timeout the bench says what it waited for and stops the fleet. */
async function until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      process.stderr.write(`bench:fleet: ${what()}: not within ${timeoutMs / 1000} s; stopping\n`);
      await shutdown(1);
    }
    await sleep(20);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** Connects per wall-clock second counted from `origin` (earlier ones count in second 0). */
function perSecond(times: number[], origin: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (const at of times) {
    if (Number.isNaN(at)) continue;
    const second = Math.max(0, Math.floor((at - origin) / 1000));
    counts.set(second, (counts.get(second) ?? 0) + 1);
  }
  return counts;
}
const busiest = (counts: Map<number, number>) => Math.max(0, ...counts.values());
const histogram = (counts: Map<number, number>) =>
  [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([second, count]) => `${second}s:${count}`)
    .join(' ');

/**
 * Connects the broker logged ("<unix second>: New client connected from … as kiosk-…") in `log`
 * from byte `offset` on, per second since `origin` (wall-clock ms).
 */
function brokerConnects(log: string, offset: number, origin: number): Map<number, number> {
  const text = readFileSync(log).subarray(offset).toString();
  const times = [...text.matchAll(/^(\d+): New client connected from \S+ as kiosk-/gm)].map(
    (match) => Number(match[1]) * 1000,
  );
  return perSecond(times, Math.floor(origin / 1000) * 1000);
}

// ---- broker and fleet ----------------------------------------------------------------------------
// Mosquitto: no connection cap, no in-flight or queue caps (the bench measures, it does not shed);
// its descriptor limit is this process's (inherited), reported below. Its log (connection notices,
// stamped in unix seconds) gives the broker-side count of reconnects.
const logDir = mkdtempSync(join(tmpdir(), 'bench-fleet-broker-'));
chmodSync(logDir, 0o777); // Mosquitto started as root drops to its own user, which writes here
const brokerLog = join(logDir, 'mosquitto.log');
const broker = await startMosquitto([
  'max_connections -1',
  'max_inflight_messages 0',
  'max_queued_messages 0',
  'set_tcp_nodelay true',
  `log_dest file ${brokerLog}`,
  'log_type notice',
  'connection_messages true',
]);
const ops = generateOpsKeyPair();
const opsKey = privateKeyFromPem(ops.privateKeyPem);
// Stores on tmpfs when there is one: 10,000 kiosks have 10,000 disks; one shared disk's fsync
// queue would measure this machine's disk, not the fleet (the kiosk's `synchronous` is unchanged).
const dataRoot = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'bench-fleet-'));

interface Worker {
  child: ChildProcess;
  ready: Extract<WorkerMessage, { kind: 'ready' }> | undefined;
  connected: number;
  rssMb: number;
  cpuMs: number;
  lagMaxMs: number;
  firsts: number[] | undefined;
  attempts: number[] | undefined;
}
const allConnects: number[] = [];
const workers: Worker[] = [];
for (let first = 0; first < KIOSKS; first += PER_WORKER) {
  const spec: WorkerSpec = {
    brokerUrl: broker.url,
    opsPublicKey: ops.publicKey,
    dataRoot,
    first,
    count: Math.min(PER_WORKER, KIOSKS - first),
    echoTopic: ECHO_TOPIC,
  };
  const child = fork(new URL('./kiosk-worker.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_WORKER_SPEC: JSON.stringify(spec) },
  });
  const worker: Worker = {
    child,
    ready: undefined,
    connected: 0,
    rssMb: 0,
    cpuMs: 0,
    lagMaxMs: 0,
    firsts: undefined,
    attempts: undefined,
  };
  child.on('message', (message: WorkerMessage) => {
    if (message.kind === 'ready') worker.ready = message;
    if (message.kind === 'tick') {
      worker.connected = message.connected;
      worker.rssMb = message.rssMb;
      worker.cpuMs = message.cpuMs;
      worker.lagMaxMs = Math.max(worker.lagMaxMs, message.lagMaxMs);
      allConnects.push(...message.connects);
    }
    if (message.kind === 'connects') {
      worker.firsts = message.firsts;
      worker.attempts = message.attempts;
    }
    if (message.kind === 'failed') {
      process.stderr.write(`bench worker failed: ${message.error}\n`);
      process.exitCode = 1;
    }
  });
  child.on('exit', (code) => {
    if (code !== 0 && !stopping) {
      process.stderr.write(`bench worker exited with ${code}\n`);
      void shutdown(1);
    }
  });
  workers.push(worker);
}
let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  for (const worker of workers) worker.child.send({ kind: 'stop' } satisfies ParentMessage);
  await Promise.race([
    Promise.all(workers.map((worker) => new Promise((done) => worker.child.once('exit', done)))),
    sleep(30_000),
  ]);
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
  await broker.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  rmSync(logDir, { recursive: true, force: true });
  process.exit(code);
}
const connected = () => workers.reduce((sum, worker) => sum + worker.connected, 0);
const workersCpuMs = () => workers.reduce((sum, worker) => sum + worker.cpuMs, 0);

const began = Date.now();
await until(
  () => workers.every((worker) => worker.ready),
  15 * 60_000,
  () => `kiosks built by ${workers.filter((worker) => worker.ready).length}/${workers.length} workers`,
);
await until(
  () => connected() === KIOSKS,
  5 * 60_000,
  () => `${connected()}/${KIOSKS} kiosks connected`,
);
const descriptors = workers.map((worker) => worker.ready?.descriptorsPerKiosk ?? 0);
process.stdout.write(
  [
    `# ${KIOSKS} kiosks in ${workers.length} worker processes, built and connected in ${((Date.now() - began) / 1000).toFixed(1)} s`,
    `# per kiosk: ${median(descriptors).toFixed(1)} file descriptors (socket + SQLite files); worker RSS ${workers.map((worker) => worker.rssMb).join('/')} MB`,
    `# stores on ${dataRoot}; descriptor limit per process (ulimit -n) ${descriptorLimit()}; load average ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')} on ${cpus} cores`,
    '',
  ].join('\n'),
);

// ---- config push ---------------------------------------------------------------------------------
const opsClient = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-ops' });
const answered = new Map<string, Set<string>>();
opsClient.on('message', (topic, payload) => {
  const kioskId = topic.split('/')[3] ?? '';
  const parsed = JSON.parse(payload.toString()) as {
    id: string;
    type: string;
    body: { configId?: string; status?: string };
  };
  if (parsed.type === 'config.result' && parsed.body.status !== 'applied') return;
  const key = parsed.type === 'config.result' ? (parsed.body.configId ?? '') : parsed.id;
  let set = answered.get(key);
  if (!set) answered.set(key, (set = new Set()));
  set.add(kioskId);
});
await opsClient.subscribeAsync(topics.allEvents(), { qos: 1 });

async function roundTrip(publish: () => Promise<string>, timeoutMs = 120_000): Promise<number> {
  const start = performance.now();
  const key = await publish();
  await until(
    () => (answered.get(key)?.size ?? 0) >= KIOSKS,
    timeoutMs,
    () => `answers to ${key}: ${answered.get(key)?.size ?? 0}/${KIOSKS}`,
  );
  return performance.now() - start;
}

// Warm-up, untimed: a retained echo reaches every kiosk once its subscriptions are in place at
// the broker (they go out after CONNACK); when all answered, every kiosk is ready to measure.
const warmUpMs = await roundTrip(async () => {
  await opsClient.publishAsync(ECHO_TOPIC, 'warm-up', { qos: 1, retain: true });
  return 'warm-up';
}, 10 * 60_000);
await opsClient.publishAsync(ECHO_TOPIC, '', { qos: 1, retain: true }); // clears the retained echo
process.stdout.write(
  `# all ${KIOSKS} kiosks subscribed and answering after ${(warmUpMs / 1000).toFixed(1)} s\n`,
);

const baselines: number[] = [];
const pushes: number[] = [];
const pushCpuMs: number[] = [];
for (let round = 1; round <= 3; round++) {
  baselines.push(
    await roundTrip(async () => {
      const key = randomUUID();
      await opsClient.publishAsync(ECHO_TOPIC, key, { qos: 1 });
      return key;
    }),
  );
  await sleep(500); // the workers' CPU counters arrive every 250 ms
  const cpuBefore = workersCpuMs();
  pushes.push(
    await roundTrip(async () => {
      const message = signConfig({
        version: round,
        settings: { timeouts: { requestMs: 10_000 + round } },
        key: opsKey,
      });
      await opsClient.publishAsync(topics.fleetConfig(), JSON.stringify(message), { qos: 1, retain: true });
      return message.id;
    }),
  );
  await sleep(500);
  pushCpuMs.push(workersCpuMs() - cpuBefore);
}
const pushMs = median(pushes);
// CPU the kiosks' processes spent per push, per kiosk (includes the link and the idle ticks)
const cpuPerKioskMs = median(pushCpuMs) / KIOSKS;
const baselineMs = median(baselines);

// ---- broker outage -------------------------------------------------------------------------------
await opsClient.endAsync();
const stoppedAt = Date.now();
await broker.stop();
await sleep(OUTAGE_MS);
const logOffset = statSync(brokerLog).size;
for (const worker of workers) worker.lagMaxMs = 0;
await broker.start();
// a kiosk may get in while start() still polls the port: such reconnects count in second 0
const restartedAt = Date.now();
await until(
  () => connected() === KIOSKS,
  10 * 60_000,
  () => `${connected()}/${KIOSKS} kiosks reconnected`,
);
for (const worker of workers)
  worker.child.send({ kind: 'connects', since: stoppedAt } satisfies ParentMessage);
await until(
  () => workers.every((worker) => worker.firsts),
  60_000,
  () => 'reconnect times from the workers',
);
const reconnects = workers.flatMap((worker) => worker.firsts ?? []);
const afterOutage = perSecond(reconnects, restartedAt);
const atBroker = brokerConnects(brokerLog, logOffset, restartedAt);
const allBackMs = Math.max(...reconnects) - restartedAt;
// failed attempts before coming back, of the kiosks back in the busiest second at the kiosks
const attempts = workers.flatMap((worker) => worker.attempts ?? []);
const busiestSecond = [...afterOutage.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
const attemptsOfBusiest = attempts.filter(
  (_, index) => Math.max(0, Math.floor(((reconnects[index] ?? NaN) - restartedAt) / 1000)) === busiestSecond,
);
const attemptCounts = new Map<number, number>();
for (const count of attemptsOfBusiest) attemptCounts.set(count, (attemptCounts.get(count) ?? 0) + 1);
const reconnectLagMs = Math.max(...workers.map((worker) => worker.lagMaxMs));
// baseline: the same schedule (the kiosk's default policy), same fleet and outage, as a model
// with no network and no CPU time: what the kiosks' backoff alone gives
const policy = parseConfig({ kiosk: { id: kioskIdOf(0) }, mqtt: { url: broker.url } }, 'bench').mqtt
  .reconnect;
const model = modelOutage(policy, KIOSKS, OUTAGE_MS);

const percent = (count: number) => `${((count / KIOSKS) * 100).toFixed(1)} %`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
process.stdout.write(
  [
    `figure: ${KIOSKS} kiosks, config applied and acknowledged by all: ${seconds(pushMs)} (target: ≤ 10 s; median of ${pushes.map(seconds).join(', ')})`,
    `figure: ${KIOSKS} kiosks, unchecked fan-out answered by all (baseline, same run): ${seconds(baselineMs)} (target: report only; config push / baseline = ${(pushMs / baselineMs).toFixed(2)})`,
    `  CPU per kiosk per config push (FleetService + store + link, all worker processes): ${cpuPerKioskMs.toFixed(2)} ms; × ${KIOSKS} kiosks / ${cpus} cores = ${seconds((cpuPerKioskMs * KIOSKS) / cpus)} of this machine`,
    `figure: busiest second of reconnects after a ${OUTAGE_MS / 1000} s outage, ${KIOSKS} kiosks: ${percent(busiest(atBroker))} (target: ≤ 10 %; counted by the broker, CONNECTs accepted per second)`,
    `  at the broker: ${histogram(atBroker)}`,
    `  at the kiosks (CONNACK received; ${percent(busiest(afterOutage))} in the busiest second): ${histogram(afterOutage)}`,
    `  all ${KIOSKS} kiosks back after ${seconds(allBackMs)}; the ${attemptsOfBusiest.length} back in second ${busiestSecond} at the kiosks had failed attempts: ${[
      ...attemptCounts.entries(),
    ]
      .sort((a, b) => a[0] - b[0])
      .map(([count, kiosks]) => `${count}×${kiosks}`)
      .join(' ')}`,
    `  worst lateness of a worker's timers during the outage and reconnects: ${seconds(reconnectLagMs)} (a reconnect due then fires that late, with the others due meanwhile)`,
    `figure: busiest second of reconnects after a ${OUTAGE_MS / 1000} s outage, ${KIOSKS} kiosks, the backoff alone (baseline, model of the same schedule, same run): ${percent(busiest(model.perSecond))} (target: report only; all back after ${seconds(model.lastMs)})`,
    '',
  ].join('\n'),
);
await shutdown(pushMs <= 10_000 && busiest(atBroker) / KIOSKS <= 0.1 ? 0 : 1);

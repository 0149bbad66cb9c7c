/**
 * Profiling aid for `bench:fleet` (not a figure): ONE real kiosk worker (kiosk-worker.ts, the
 * bench's own) with PROFILE_KIOSKS kiosks on a Mosquitto of its own, PROFILE_PUSHES signed config
 * pushes, and the worker's CPU per kiosk per push the way run.ts counts it. With PROFILE_DIR set,
 * the worker runs under `--cpu-prof` and the samples taken during the pushes are summarised (self
 * time per function, and inclusive time of the fleet/store/link functions).
 *
 *   PROFILE_DIR=/tmp/prof node --import tsx bench/fleet/profile.ts
 */
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generateOpsKeyPair, privateKeyFromPem, signConfig } from '../../src/fleet/index.js';
import { topics } from '../../src/link/topics.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import type { WorkerMessage, WorkerSpec } from './protocol.js';

const KIOSKS = Number(process.env.PROFILE_KIOSKS ?? 500);
const PUSHES = Number(process.env.PROFILE_PUSHES ?? 6);
const PROFILE_DIR = process.env.PROFILE_DIR;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const broker = await startMosquitto([
  'max_connections -1',
  'max_inflight_messages 0',
  'max_queued_messages 0',
]);
const ops = generateOpsKeyPair();
const opsKey = privateKeyFromPem(ops.privateKeyPem);
// stores on tmpfs, as in run.ts
const dataRoot = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'profile-fleet-'));
const spec: WorkerSpec = {
  brokerUrl: broker.url,
  opsPublicKey: ops.publicKey,
  dataRoot,
  first: 0,
  count: KIOSKS,
  echoTopic: 'cccd/v1/bench/echo',
};
const child = fork(new URL('./kiosk-worker.ts', import.meta.url).pathname, [], {
  execArgv: ['--import', 'tsx', ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])],
  env: { ...process.env, BENCH_WORKER_SPEC: JSON.stringify(spec) },
});
let ready = false;
let connected = 0;
let cpuMs = 0;
child.on('message', (message: WorkerMessage) => {
  if (message.kind === 'ready') ready = true;
  if (message.kind === 'tick') ({ connected, cpuMs } = message);
  if (message.kind === 'failed') throw new Error(message.error);
});
while (!ready || connected < KIOSKS) await sleep(50);

const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'profile-ops' });
const applied = new Map<string, number>();
client.on('message', (_topic, payload) => {
  const parsed = JSON.parse(payload.toString()) as {
    type: string;
    body: { configId?: string; status?: string };
  };
  if (parsed.type !== 'config.result' || parsed.body.status !== 'applied') return;
  const id = parsed.body.configId ?? '';
  applied.set(id, (applied.get(id) ?? 0) + 1);
});
await client.subscribeAsync(topics.allEvents(), { qos: 1 });
await sleep(1000);

/** CPU ms of the worker's main thread and of its other threads (libuv pool, V8), from /proc. */
function threadCpuMs(pid: number): Map<string, number> {
  const ticks = 1000 / 100; // USER_HZ
  const byName = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const name = task === String(pid) ? 'main' : `tid+${Number(task) - pid}`;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * ticks;
      byName.set(name, (byName.get(name) ?? 0) + ms);
    } catch {
      // the thread ended meanwhile
    }
  }
  return byName;
}
const threadTotals = new Map<string, number>();
const perKiosk: number[] = [];
const windows: Array<[bigint, bigint]> = [];
for (let version = 1; version <= PUSHES; version++) {
  await sleep(600);
  const before = cpuMs;
  const threadsBefore = threadCpuMs(child.pid ?? 0);
  const from = process.hrtime.bigint();
  const message = signConfig({
    version,
    settings: { timeouts: { requestMs: 10_000 + version } },
    key: opsKey,
  });
  await client.publishAsync(topics.fleetConfig(), JSON.stringify(message), { qos: 1, retain: true });
  const start = performance.now();
  while ((applied.get(message.id) ?? 0) < KIOSKS) await sleep(10);
  const took = performance.now() - start;
  windows.push([from, process.hrtime.bigint()]);
  await sleep(600);
  perKiosk.push((cpuMs - before) / KIOSKS);
  for (const [name, ms] of threadCpuMs(child.pid ?? 0))
    threadTotals.set(name, (threadTotals.get(name) ?? 0) + ms - (threadsBefore.get(name) ?? 0));
  process.stdout.write(
    `push ${version}: ${took.toFixed(0)} ms, CPU per kiosk ${perKiosk.at(-1)?.toFixed(3)} ms\n`,
  );
}
const sorted = [...perKiosk].sort((a, b) => a - b);
process.stdout.write(
  `median CPU per kiosk per push: ${sorted[Math.floor(sorted.length / 2)]?.toFixed(3)} ms\n`,
);
process.stdout.write(
  `per kiosk per push, by thread: ${[...threadTotals.entries()]
    .filter(([, ms]) => ms > 0)
    .map(([name, ms]) => `${name} ${(ms / KIOSKS / PUSHES).toFixed(3)} ms`)
    .join(', ')}\n`,
);
await client.endAsync();
child.send({ kind: 'stop' });
await new Promise((done) => child.once('exit', done));
await broker.stop();
rmSync(dataRoot, { recursive: true, force: true });
if (PROFILE_DIR) summarise(PROFILE_DIR, windows);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
/** Self and inclusive sample counts of the samples inside the push windows. */
function summarise(dir: string, within: Array<[bigint, bigint]>): void {
  // the main thread's profile (thread 0); others are the worker threads of libraries
  const file = readdirSync(dir)
    .filter((name) => /\.0\.\d+\.cpuprofile$/.test(name))
    .sort()
    .at(-1);
  if (!file) return;
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node: ProfileNode) =>
    `${node.callFrame.functionName || '(anon)'} ${node.callFrame.url.replace(/.*\/(node_modules|src)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let at = profile.startTime;
  let total = 0;
  profile.samples.forEach((id, index) => {
    at += profile.timeDeltas[index] ?? 0;
    const ns = BigInt(Math.round(at)) * 1000n;
    if (!within.some(([from, to]) => ns >= from && ns <= to)) return;
    total++;
    const node = byId.get(id);
    if (!node) return;
    self.set(label(node), (self.get(label(node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const name = label(byId.get(cursor) as ProfileNode);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
    }
  });
  const top = (counts: Map<string, number>, count: number, filter = (_: string) => true) =>
    [...counts.entries()]
      .filter(([name]) => filter(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, samples]) => `${((samples / total) * 100).toFixed(1).padStart(5)} %  ${name}`)
      .join('\n');
  process.stdout.write(`\n${total} samples in the push windows\n-- self --\n${top(self, 45)}\n`);
  process.stdout.write(`-- inclusive --\n${top(inclusive, 90)}\n`);
}

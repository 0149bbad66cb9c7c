/**
 * bench/session: the kiosk's own time per card pickup — everything the runtime does itself
 * (reducer, vault look-up and unsealing, store transactions with their fsyncs, BAC / secure
 * messaging / passive and Active Authentication crypto, receipt encoding) and none of the emulated
 * device time (serial exchanges, fingerprint capture, dispenser mechanics, the chip's answers) or
 * the citizen's. The orchestrator counts the device and link waits itself (SessionOrchestrator
 * .ownTimeMs). Three pickups, one per staged demo citizen, in the pickup world of the tests
 * (real ptys, emulators, broker, registry, SQLite with synchronous=FULL).
 *
 * Baseline in the same process: one store transaction (one event, fsync'd), for scale.
 */
import { DEMO_CITIZENS } from '../../src/demo/citizens.js';
import { startPickupWorld, until } from '../../test/integration/kiosk/pickup-world.js';

const world = await startPickupWorld();
const { sessions, store } = world.runtime;
const totals: number[] = [];
let breakdown = new Map<string, number>();
try {
  for (const citizen of DEMO_CITIZENS) {
    await world.rig.citizenControl('finger', [citizen.record.idNumber]);
    sessions.ownTimeMs.clear();
    sessions.handle({ type: 'start', flow: 'pickup' });
    sessions.handle({ type: 'enter-id', idNumber: citizen.record.idNumber });
    await until(() => sessions.phase === 'take-card', 30_000, 'card presented');
    world.rig.dispenser.takeCard();
    await until(() => sessions.phase === 'receipt', 10_000, 'receipt');
    const total = [...sessions.ownTimeMs.values()].reduce((sum, ms) => sum + ms, 0);
    totals.push(total);
    breakdown = new Map(sessions.ownTimeMs);
    sessions.handle({ type: 'confirm' });
    await until(() => sessions.phase === 'attract', 5000, 'attract');
  }
  const baselineRuns: number[] = [];
  for (let run = 0; run < 20; run++) {
    const started = performance.now();
    await store.enqueue({ type: 'bench.baseline', body: {} });
    baselineRuns.push(performance.now() - started);
  }
  const sorted = [...totals].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  const baseline = [...baselineRuns].sort((a, b) => a - b)[10] ?? Number.NaN;
  const steps = [...breakdown].map(([step, ms]) => `${step} ${ms.toFixed(1)}`).join(', ');
  process.stdout.write(`last pickup, own ms by step: ${steps}\n`);
  process.stdout.write(`baseline: one fsync'd store transaction ${baseline.toFixed(2)} ms (median of 20)\n`);
  process.stdout.write(
    `figure: kiosk own time per pickup: median ${median.toFixed(1)} ms, max ${(sorted.at(-1) ?? Number.NaN).toFixed(1)} ms over ${totals.length} pickups = ${(median / baseline).toFixed(1)} × one store transaction (target: ≤ 100 ms)\n`,
  );
} finally {
  await world.stop();
}
process.exit(0);

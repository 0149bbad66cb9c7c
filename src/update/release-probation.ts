/**
 * A release on probation, judged in the runtime with the same mechanism as pushed configuration
 * (src/fleet/probation.ts: the same health inputs, the same verdicts). The runtime cannot write
 * the install root (systemd makes /opt/cccd-kiosk read-only to it), so it leaves its verdict in its
 * own state directory for deploy/release-guard.sh, which runs as root before the next start:
 *
 * - pass (healthy and connected for update.probationMinutes): `release-good` names the version,
 *   and the guard stops counting its starts;
 * - revert (the broker never reachable, a part that stays down): `rollback-request` names the
 *   cause, and the runtime exits so systemd restarts it; the guard then switches `current` back.
 *
 * A crash loop, or a release that never reaches the runtime, is the guard's own boot counter.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProbationWatch, type HealthInput, type Verdict } from '../fleet/probation.js';
import { currentVersion, probationVersion } from './releases.js';

export const releaseGoodFile = (stateDir: string): string => join(stateDir, 'release-good');
export const rollbackRequestFile = (stateDir: string): string => join(stateDir, 'rollback-request');

export interface ReleaseProbationOptions {
  installRoot: string;
  stateDir: string;
  inputs: readonly HealthInput[];
  passAfterMs: number;
  pollMs?: number;
  /** Called after a revert was requested: the owner stops the runtime so systemd restarts it. */
  onRevert: (cause: string) => void;
  /** Called after the release was marked good. */
  onPass?: (version: string) => void;
}

export type ReleaseVerdict = Exclude<Verdict, { kind: 'wait' }> & { version: string };

/**
 * Starts watching when the running release is the one on probation; returns the watch (to stop
 * it at shutdown) and a promise of its verdict, or undefined when there is nothing to judge.
 */
export async function watchReleaseProbation(
  options: ReleaseProbationOptions,
): Promise<{ watch: ProbationWatch; verdict: Promise<ReleaseVerdict> } | undefined> {
  const running = await currentVersion(options.installRoot);
  const onProbation = await probationVersion(options.installRoot);
  if (running === undefined || running !== onProbation) return undefined;
  let settle: (verdict: ReleaseVerdict) => void = () => undefined;
  const verdict = new Promise<ReleaseVerdict>((resolve) => (settle = resolve));
  const watch = new ProbationWatch({
    inputs: options.inputs,
    passAfterMs: options.passAfterMs,
    pollMs: options.pollMs ?? 1000,
    decided: (decision) => {
      void record(options, running, decision).then(() => settle({ ...decision, version: running }));
    },
  });
  watch.start();
  return { watch, verdict };
}

async function record(
  options: ReleaseProbationOptions,
  version: string,
  decision: Exclude<Verdict, { kind: 'wait' }>,
) {
  await mkdir(options.stateDir, { recursive: true });
  if (decision.kind === 'pass') {
    await writeFile(releaseGoodFile(options.stateDir), `${version}\n`);
    options.onPass?.(version);
  } else {
    // the guard keeps only [a-z0-9-] of the cause: the input names (`broker`, a part) fit
    await writeFile(rollbackRequestFile(options.stateDir), `${decision.cause}\n`);
    options.onRevert(decision.cause);
  }
}

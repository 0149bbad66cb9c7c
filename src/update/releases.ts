/**
 * A/B releases on the kiosk:
 *
 *   <root>/releases/<version>/   manifest.json + app/ (an unpacked, verified bundle)
 *   <root>/current -> releases/<version>   what systemd runs (ExecStart goes through it)
 *   <root>/update/previous       the release to roll back to (one line: a version)
 *   <root>/update/probation      the release on probation, until marked good (one line)
 *   <root>/update/boots          starts of the release on probation (deploy/release-guard.sh)
 *   <root>/update/rollbacks.jsonl  every rollback (the history; JSON lines, RollbackRecord)
 *
 * and in the runtime's own state directory (/var/lib/cccd-kiosk, the only one it may write; see
 * deploy/release-guard.sh for who writes what):
 *
 *   <state>/update-staging/        a release the runtime staged (runtime-update.ts): its own TUF
 *                                  metadata and downloads, releases/<version>/ with SHA256SUMS
 *   <state>/switch-request         the staged version, for the guard to land and switch to
 *   <state>/release-good           the version release probation passed
 *   <state>/rollback-request       why release probation failed (the guard rolls back)
 *   <state>/rollbacks.jsonl        the guard's rollbacks not yet reported over MQTT (the runtime
 *                                  queues them in the outbox, then removes the file)
 *   <state>/software-order.json    the update order in progress and its last answer
 *
 * Plain one-line files, so deploy/release-guard.sh (run by systemd before the runtime, and on
 * failure) reads and writes them without the release's own code, which may be what is broken.
 * `current` is switched by renaming a new symlink over it: rename(2) is atomic, so a power cut
 * leaves either the old or the new link, never none. Two releases are kept.
 */
import {
  appendFile,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';

export const releasesDir = (root: string): string => join(root, 'releases');
export const currentLink = (root: string): string => join(root, 'current');
export const updateDir = (root: string): string => join(root, 'update');
const stateFile = (root: string, name: 'previous' | 'probation' | 'boots'): string =>
  join(updateDir(root), name);
const rollbackLog = (root: string): string => join(updateDir(root), 'rollbacks.jsonl');

export async function currentVersion(root: string): Promise<string | undefined> {
  return readlink(currentLink(root)).then(
    (target) => basename(target),
    () => undefined,
  );
}

async function readLine(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim() || undefined;
}

async function writeLine(path: string, value: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(`${path}.tmp`, `${value}\n`);
  await rename(`${path}.tmp`, path);
}

export const previousVersion = (root: string): Promise<string | undefined> =>
  readLine(stateFile(root, 'previous'));
export const probationVersion = (root: string): Promise<string | undefined> =>
  readLine(stateFile(root, 'probation'));

/** Points `current` at an installed release, atomically. Relative link: the tree can be moved. */
export async function pointCurrentAt(root: string, version: string): Promise<void> {
  const tmp = `${currentLink(root)}.next`;
  await rm(tmp, { force: true });
  await symlink(join('releases', version), tmp);
  await rename(tmp, currentLink(root));
}

/**
 * Switches to `version` and puts it on probation, remembering the running release as the one to
 * roll back to. The caller restarts the service afterwards.
 */
export async function switchRelease(root: string, version: string): Promise<{ from: string | undefined }> {
  const from = await currentVersion(root);
  await mkdir(updateDir(root), { recursive: true });
  if (from !== undefined && from !== version) await writeLine(stateFile(root, 'previous'), from);
  await rm(stateFile(root, 'boots'), { force: true });
  await writeLine(stateFile(root, 'probation'), version);
  await pointCurrentAt(root, version);
  return { from };
}

/** The release on probation stayed healthy and connected: it is good, and no longer watched. */
export async function markReleaseGood(root: string): Promise<string | undefined> {
  const version = await probationVersion(root);
  await rm(stateFile(root, 'probation'), { force: true });
  await rm(stateFile(root, 'boots'), { force: true });
  return version;
}

export const RollbackRecordSchema = z.strictObject({
  from: z.string(),
  to: z.string(),
  reason: z.string(),
  at: z.string(),
});
export type RollbackRecord = z.infer<typeof RollbackRecordSchema>;

/** Switches back to the previous release and records why, for the report to operations. */
export async function rollBackRelease(root: string, reason: string): Promise<RollbackRecord | undefined> {
  const to = await previousVersion(root);
  const from = await currentVersion(root);
  if (to === undefined || from === undefined || to === from) return undefined;
  await pointCurrentAt(root, to);
  await rm(stateFile(root, 'probation'), { force: true });
  await rm(stateFile(root, 'boots'), { force: true });
  const record = { from, to, reason, at: new Date().toISOString() };
  await appendFile(rollbackLog(root), JSON.stringify(record) + '\n');
  return record;
}

/** Rollbacks not yet reported; the caller clears them once operations acknowledged the report. */
export async function unreportedRollbacks(root: string): Promise<RollbackRecord[]> {
  const text = await readFile(rollbackLog(root), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      const parsed = RollbackRecordSchema.safeParse(JSON.parse(line));
      return parsed.success ? [parsed.data] : [];
    });
}

export async function clearReportedRollbacks(root: string): Promise<void> {
  await rm(rollbackLog(root), { force: true });
}

/** Removes releases other than current and previous (and any half-unpacked staging directory). */
export async function pruneReleases(root: string): Promise<string[]> {
  const keep = new Set([await currentVersion(root), await previousVersion(root)]);
  const removed: string[] = [];
  for (const name of await readdir(releasesDir(root)).catch(() => [] as string[])) {
    if (keep.has(name)) continue;
    await rm(join(releasesDir(root), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

const pendingFile = (root: string): string => join(updateDir(root), 'pending');

/** A staged release waits here until the runtime is idle and switches to it. */
export async function requestSwitch(root: string, version: string): Promise<void> {
  await writeLine(pendingFile(root), version);
}

export async function pendingSwitch(root: string): Promise<string | undefined> {
  return readLine(pendingFile(root));
}

export async function clearPendingSwitch(root: string): Promise<void> {
  await rm(pendingFile(root), { force: true });
}

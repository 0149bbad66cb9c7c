/**
 * A/B releases on the kiosk:
 *
 *   <root>/releases/<version>/   manifest.json + app/ (an unpacked, verified bundle)
 *   <root>/current -> releases/<version>   what systemd runs (ExecStart goes through it)
 *   <root>/update/state.json     the previous release (the rollback target), kept across restarts
 *
 * `current` is switched by renaming a new symlink over it: rename(2) is atomic, so a power cut
 * leaves either the old or the new link, never none. Two releases are kept.
 */
import { mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';

export const releasesDir = (root: string): string => join(root, 'releases');
export const currentLink = (root: string): string => join(root, 'current');
export const updateDir = (root: string): string => join(root, 'update');
const stateFile = (root: string): string => join(updateDir(root), 'state.json');

const ReleaseStateSchema = z.strictObject({ previous: z.string().optional() });
export type ReleaseState = z.infer<typeof ReleaseStateSchema>;

export async function currentVersion(root: string): Promise<string | undefined> {
  return readlink(currentLink(root)).then(
    (target) => basename(target),
    () => undefined,
  );
}

export async function readReleaseState(root: string): Promise<ReleaseState> {
  try {
    return ReleaseStateSchema.parse(JSON.parse(await readFile(stateFile(root), 'utf8')));
  } catch {
    return {};
  }
}

async function writeReleaseState(root: string, state: ReleaseState): Promise<void> {
  await mkdir(updateDir(root), { recursive: true });
  const tmp = `${stateFile(root)}.tmp`;
  await writeFile(tmp, JSON.stringify(state) + '\n');
  await rename(tmp, stateFile(root));
}

/** Points `current` at an installed release, atomically. Relative link: the tree can be moved. */
export async function pointCurrentAt(root: string, version: string): Promise<void> {
  const tmp = `${currentLink(root)}.next`;
  await rm(tmp, { force: true });
  await symlink(join('releases', version), tmp);
  await rename(tmp, currentLink(root));
}

/** Switches to `version`, remembering the running release as the one to roll back to. */
export async function switchRelease(root: string, version: string): Promise<{ from: string | undefined }> {
  const from = await currentVersion(root);
  await writeReleaseState(root, from !== undefined && from !== version ? { previous: from } : {});
  await pointCurrentAt(root, version);
  return { from };
}

/** Switches back to the previous release; returns it, or undefined when there is none. */
export async function rollBackRelease(root: string): Promise<{ from?: string; to: string } | undefined> {
  const { previous } = await readReleaseState(root);
  if (previous === undefined) return undefined;
  const from = await currentVersion(root);
  await pointCurrentAt(root, previous);
  await writeReleaseState(root, {});
  return { from, to: previous };
}

/** Removes releases other than current and previous (and any half-unpacked staging directory). */
export async function pruneReleases(root: string): Promise<string[]> {
  const keep = new Set([await currentVersion(root), (await readReleaseState(root)).previous]);
  const removed: string[] = [];
  for (const name of await readdir(releasesDir(root)).catch(() => [] as string[])) {
    if (keep.has(name)) continue;
    await rm(join(releasesDir(root), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

import { stat } from 'node:fs/promises';

/** Whether anything (file, directory, live link) is at `path`; unreadable counts as absent. */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

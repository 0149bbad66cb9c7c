/**
 * Small state files that must survive power loss: written to a temporary file, fsynced, renamed
 * over the old one, and the directory fsynced, so a reader finds either the old or the new text,
 * never a torn one (rename(2) is atomic within a file system).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(file: string, text: string): void {
  const directory = dirname(file);
  // per process: two processes writing the same file (ops CLI and dashboard) never share a temporary
  const temporary = `${file}.${process.pid}.tmp`;
  let handle: number;
  try {
    handle = openSync(temporary, 'w', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // the directory is created on the first write only (a mkdir per write costs the kiosk CPU)
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    handle = openSync(temporary, 'w', 0o600);
  }
  try {
    // written and fsynced through the one descriptor that created it
    writeFileSync(handle, text);
    fsyncSync(handle);
  } catch (error) {
    closeSync(handle);
    // a half-written temporary (disk full) must not hold the space the next attempt needs
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(handle);
  renameSync(temporary, file);
  fsyncPath(directory);
}

function fsyncPath(path: string): void {
  const handle = openSync(path, 'r');
  try {
    fsyncSync(handle);
  } finally {
    closeSync(handle);
  }
}

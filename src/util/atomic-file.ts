/**
 * Small state files that must survive power loss: written to a temporary file, fsynced, renamed
 * over the old one, and the directory fsynced, so a reader finds either the old or the new text,
 * never a torn one (rename(2) is atomic within a file system).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(file: string, text: string): void {
  const directory = dirname(file);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  // per process: two processes writing the same file (ops CLI and dashboard) never share a temporary
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text, { mode: 0o600 });
    fsyncPath(temporary);
  } catch (error) {
    // a half-written temporary (disk full) must not hold the space the next attempt needs
    rmSync(temporary, { force: true });
    throw error;
  }
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

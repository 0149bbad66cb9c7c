/**
 * Small state files that must survive power loss: written to a temporary file, fsynced, renamed
 * over the old one, and the directory fsynced, so a reader finds either the old or the new text,
 * never a torn one (rename(2) is atomic within a file system).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(file: string, text: string): void {
  const directory = dirname(file);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  fsyncPath(temporary);
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

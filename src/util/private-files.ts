/**
 * The kiosk's data files are readable by the kiosk's user only (issue 12, "personal data at rest"):
 * directories 0700, files 0600, whatever the umask of the shell or unit that started the process.
 * systemd's UMask= covers a deployed kiosk; these explicit modes cover everything else (the demo,
 * a technician's `kiosk` command, a test), because SQLite creates its files 0644 & ~umask and its
 * WAL and shared-memory files copy the mode of the database file.
 */
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and its parents) if needed and makes `dir` itself 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Creates `file` empty if it does not exist, in a private directory, and makes it 0600 — before
 * SQLite (or anything else) opens it, so no moment exists in which it is readable by others.
 */
export function ensurePrivateFile(file: string): void {
  ensurePrivateDir(dirname(file));
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodSync(file, PRIVATE_FILE_MODE);
}

/**
 * Tightens an existing data directory (one written by an older version, or copied in): every
 * directory 0700, every regular file 0600. Symbolic links are left alone.
 */
export function tightenTree(dir: string): void {
  ensurePrivateDir(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) tightenTree(path);
    else if (entry.isFile() && (statSync(path).mode & 0o777) !== PRIVATE_FILE_MODE)
      chmodSync(path, PRIVATE_FILE_MODE);
  }
}

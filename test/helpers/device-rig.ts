import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPtyPair, type PtyPair } from '../../devices/index.js';

/** Polls `check` until true; fails after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A pty pair at stable paths that can be unplugged (the pair closed: both ends see EIO) and
 * plugged back in at the same paths.
 */
export async function pluggablePty(name: string): Promise<{
  devicePath: string;
  emulatorPath: string;
  unplug(): Promise<void>;
  replug(): Promise<void>;
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const devicePath = join(dir, name);
  const emulatorPath = join(dir, `${name}.emu`);
  let pty: PtyPair | undefined = await createPtyPair(devicePath, emulatorPath);
  return {
    devicePath,
    emulatorPath,
    async unplug() {
      await pty?.close();
      pty = undefined;
    },
    async replug() {
      pty = await createPtyPair(devicePath, emulatorPath);
    },
    async close() {
      await pty?.close();
      pty = undefined;
    },
  };
}

/**
 * The kiosk's security high-water mark, kept OUTSIDE the database, beside its keys
 * (`<dataDir>/identity/security-state.json`, 0600 in a 0700 directory): config versions, the
 * config ids at those versions, the lock, when the nonces in force were last lost, and the id of the
 * store it belongs to. A wiped or replaced database cannot roll it back: on start the kiosk compares
 * the store's id with this file's, and when they differ it reports `fault.storage` and stays out of
 * service until operations re-establish its state (`reassert-state`, see fleet.ts).
 *
 * Written atomically (temp file, fsync, rename, fsync of the directory) after the store committed,
 * so the file is never older than one change behind the store; on start both are merged upwards.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';

const VersionsSchema = z.strictObject({ fleet: z.number().int().min(0), kiosk: z.number().int().min(0) });

export const SecurityStateSchema = z.strictObject({
  /** the id of the store this state belongs to (also kept in the store) */
  storeId: z.string().min(8).max(64),
  versions: VersionsSchema,
  /** id of the config message at each source's version: the same config may be re-applied */
  configIds: z.strictObject({ fleet: z.string().max(64).optional(), kiosk: z.string().max(64).optional() }),
  locked: z.boolean(),
  /** version of the trust list in force (0: none pushed yet) */
  trustListVersion: z.number().int().min(0),
  /** messages issued before this instant (ms) are refused: their nonces were lost with a store */
  notBefore: z.number().int().min(0),
  /** a lost store was found and operations have not re-established the state yet */
  storeLost: z.boolean(),
});
export type SecurityState = z.infer<typeof SecurityStateSchema>;

export function securityStatePath(dataDir: string): string {
  return join(dataDir, 'identity', 'security-state.json');
}

/** A state file that exists but cannot be read: refuse to start rather than forget the lock. */
export class SecurityStateUnreadable extends Error {
  override readonly name = 'SecurityStateUnreadable';
}

export function newSecurityState(): SecurityState {
  return {
    storeId: randomUUID(),
    versions: { fleet: 0, kiosk: 0 },
    configIds: {},
    locked: false,
    trustListVersion: 0,
    notBefore: 0,
    storeLost: false,
  };
}

export function readSecurityState(file: string): SecurityState | undefined {
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new SecurityStateUnreadable(`security state ${file} is not JSON`, { cause: error });
  }
  const parsed = SecurityStateSchema.safeParse(json);
  if (!parsed.success) throw new SecurityStateUnreadable(`security state ${file} is malformed`);
  return parsed.data;
}

export function writeSecurityState(file: string, state: SecurityState): void {
  writeFileAtomic(file, `${JSON.stringify(SecurityStateSchema.parse(state))}\n`);
}

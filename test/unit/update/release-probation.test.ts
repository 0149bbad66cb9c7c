/**
 * The runtime's half of release probation: with the fleet's probation watch and health inputs,
 * a release that stays well is marked good for the guard, one whose broker stays unreachable asks
 * the guard to roll back; a release not on probation is not watched. Inputs are plain functions
 * here (pure logic); the guard's half is test/integration/update/ab-switch.test.ts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markReleaseGood, switchRelease } from '../../../src/update/releases.js';
import {
  releaseGoodFile,
  rollbackRequestFile,
  watchReleaseProbation,
} from '../../../src/update/release-probation.js';

async function installed(): Promise<{ root: string; state: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'release-probation-'));
  const root = join(dir, 'opt');
  for (const v of ['0.1.1', '0.1.2']) await mkdir(join(root, 'releases', v), { recursive: true });
  await switchRelease(root, '0.1.1');
  await markReleaseGood(root);
  await switchRelease(root, '0.1.2');
  return { root, state: join(dir, 'state') };
}

describe('release probation in the runtime', () => {
  it('marks a release that stays connected good', async () => {
    const { root, state } = await installed();
    const watching = await watchReleaseProbation({
      installRoot: root,
      stateDir: state,
      inputs: [{ name: 'broker', graceMs: 60_000, read: () => ({ ok: true }) }],
      passAfterMs: 0,
      pollMs: 10,
      onRevert: () => undefined,
    });
    expect((await watching!.verdict).kind).toBe('pass');
    expect(await readFile(releaseGoodFile(state), 'utf8')).toBe('0.1.2\n');
  });

  it('asks for a rollback when the broker never becomes reachable', async () => {
    const { root, state } = await installed();
    const reverted: string[] = [];
    const watching = await watchReleaseProbation({
      installRoot: root,
      stateDir: state,
      inputs: [{ name: 'broker', graceMs: 0, read: () => ({ ok: false, detail: 'unreachable' }) }],
      passAfterMs: 60_000,
      pollMs: 10,
      onRevert: (cause) => reverted.push(cause),
    });
    expect(await watching!.verdict).toMatchObject({ kind: 'revert', cause: 'broker', version: '0.1.2' });
    expect(reverted).toEqual(['broker']);
    expect(await readFile(rollbackRequestFile(state), 'utf8')).toBe('broker\n');
  });

  it('does not watch a release that is not on probation', async () => {
    const { root, state } = await installed();
    await markReleaseGood(root);
    await writeFile(join(root, 'unrelated'), '');
    const watching = await watchReleaseProbation({
      installRoot: root,
      stateDir: state,
      inputs: [],
      passAfterMs: 0,
      onRevert: () => undefined,
    });
    expect(watching).toBeUndefined();
  });
});

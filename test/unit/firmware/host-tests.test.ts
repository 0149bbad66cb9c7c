import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FIRMWARE_DIR } from '../../integration/firmware/firmware-sim.js';

/**
 * The firmware's hardware-free C modules (Firmata parser, dispenser state machine) are tested by a
 * host-compiled TAP program, firmware/test/firmware_tests.c (ASan + UBSan). Each of its cases is
 * one vitest case here, so a failure names the C test and the line that failed.
 */
const run = spawnSync('make', ['-s', '-C', FIRMWARE_DIR, 'test'], { encoding: 'utf8', timeout: 120_000 });
const cases = [...run.stdout.matchAll(/^(ok|not ok) \d+ - (.*?)(?: # (.*))?$/gm)].map((match) => ({
  ok: match[1] === 'ok',
  name: match[2] ?? '',
  detail: match[3] ?? '',
}));

describe('firmware host tests (firmware/test, host gcc)', () => {
  it('build and run', () => {
    expect(run.error, String(run.error)).toBeUndefined();
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^1\\.\\.${cases.length}$`, 'm'));
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });
  for (const testCase of cases) {
    it(testCase.name, () => {
      expect(testCase.ok, testCase.detail).toBe(true);
    });
  }
});

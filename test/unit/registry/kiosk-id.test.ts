import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KIOSK_ID_PATTERN, kioskIdProblem } from '../../../src/registry/kiosk-id.js';

describe('kiosk ids', () => {
  it('refuses the names of services and broker roles, and their worker prefixes', () => {
    for (const id of [
      'registry',
      'ops',
      'admin',
      'root',
      'bootstrap',
      'registry-2',
      'ops-eu',
      'enrol-bridge',
    ])
      expect(kioskIdProblem(id), id).toBe('reserved');
  });

  it('refuses anything outside the pattern: $SYS-like, wildcards, slashes, upper case, non-strings', () => {
    for (const id of [
      '$SYS',
      'kiosk/+',
      'hn#1',
      'HN-0001',
      'ab',
      '-hn-0001',
      `a${'b'.repeat(63)}`,
      '',
      undefined,
      42,
    ])
      expect(kioskIdProblem(id), String(id)).toBe('pattern');
  });

  it('accepts ordinary kiosk ids', () => {
    for (const id of ['hn-0042', 'hcm-q1-0007', 'kiosk-a', 'sec-0001'])
      expect(kioskIdProblem(id), id).toBeUndefined();
  });

  it('every accepted id matches the pattern and never holds an MQTT wildcard, a slash or a $', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (id) => {
        if (kioskIdProblem(id) !== undefined) return;
        expect(id).toMatch(KIOSK_ID_PATTERN);
        expect(id).not.toMatch(/[+#/$]/);
      }),
      { numRuns: 2000 },
    );
  });
});

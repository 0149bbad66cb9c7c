import { describe, expect, it } from 'vitest';
import { spawnKiosk } from '../../helpers/processes.js';

const QR = '001195012345|012345678|Trần Thị Mai|15031995|Nữ|Số 12 ngõ 34 Hàng Bạc, Hà Nội|10072021';
const MRZ = 'IDVNM1950123452001195012345<<3,9503157F3503155VNM<<<<<<<<<<<0,TRAN<<THI<MAI<<<<<<<<<<<<<<<<<';

describe('kiosk card read', () => {
  it('reads the emulated card from the QR alone, PII masked, verdicts printed', async () => {
    const run = spawnKiosk(['card', 'read', '--emulate', '--qr', QR]);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.output()).toMatch(/passive authentication: PASSED/);
    expect(run.output()).toMatch(/access: PACE/);
    expect(run.output()).toMatch(/chip authentication: PASSED/);
    expect(run.output()).toMatch(/chip authentic \(PA and a bound CA or AA\): YES/);
    expect(run.output()).toMatch(/DG13 idNumber: 001\*{7}45/);
    expect(run.output()).not.toContain('Trần Thị Mai');
    expect(run.output()).not.toContain('001195012345');
  });

  it('prints the PII with --show-pii', async () => {
    const run = spawnKiosk(['card', 'read', '--emulate', '--mrz', MRZ, '--show-pii']);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.output()).toContain('DG13 fullName: Trần Thị Mai');
  });

  it('exits 1 naming the refused step when the MRZ (another valid card) does not open the chip', async () => {
    const other =
      'IDVNM2040007775079204000777<<5,0411022M2911021VNM<<<<<<<<<<<6,LE<<DUC<ANH<<<<<<<<<<<<<<<<<<<';
    const run = spawnKiosk(['card', 'read', '--emulate', '--mrz', other]);
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.output()).toMatch(
      /card read failed: AccessControlError: access control pace-tokens: .*\(SW 6300\)/,
    );
  });

  it('refuses a malformed MRZ before touching the card', async () => {
    const run = spawnKiosk(['card', 'read', '--emulate', '--mrz', MRZ.replace('9503157F', '9503158F')]);
    expect((await run.exited).code).toBe(1);
    expect(run.output()).toMatch(/mrz refused: mrz-check-digit/);
  });
});

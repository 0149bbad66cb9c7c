/**
 * The unit-file parser of the systemd harness (unit-runner.ts), on the REAL files of
 * deploy/systemd: what the rollback tests run is what these files say, with the install paths
 * moved into a temporary root.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseExec,
  parseServiceUnit,
  parseTimespanMs,
  parseUnitText,
  pathRewriter,
  splitCommandLine,
} from './unit-runner.js';

const UNIT_DIR = join(process.cwd(), 'deploy', 'systemd');
const read = (name: string) => readFileSync(join(UNIT_DIR, name), 'utf8');
const rewrite = pathRewriter({
  '/etc/cccd-kiosk/kiosk.json': '/tmp/t/etc/kiosk.json',
  '/opt/cccd-kiosk': '/tmp/t/opt',
  '/var/lib/cccd-kiosk': '/tmp/t/var',
  '/usr/bin/node': '/usr/local/bin/node',
});

describe('systemd unit parser (test harness) on deploy/systemd', () => {
  it('reads cccd-kiosk.service: guard as privileged ExecStartPre, ExecStart through current, restarts, start limit, OnFailure', () => {
    const unit = parseServiceUnit('cccd-kiosk.service', read('cccd-kiosk.service'), rewrite);
    expect(unit.type).toBe('notify');
    expect(unit.execStartPre).toEqual([
      {
        argv: ['/tmp/t/opt/deploy/release-guard.sh', 'boot', '/tmp/t/opt', '/tmp/t/var', '3'],
        privileged: true,
        ignoreFailure: false,
      },
    ]);
    expect(unit.execStart[0]!.argv).toEqual([
      '/usr/local/bin/node',
      '/tmp/t/opt/current/app/dist/src/cli/kiosk.js',
      'start',
      '--config',
      '/tmp/t/etc/kiosk.json',
    ]);
    expect(unit).toMatchObject({
      restart: 'always',
      restartSecMs: 3000,
      timeoutStartMs: 90_000,
      timeoutStopMs: 15_000,
      startLimitIntervalMs: 600_000,
      startLimitBurst: 10,
      onFailure: ['cccd-kiosk-rollback.service'],
      workingDirectory: '/tmp/t/var',
      environment: { NODE_ENV: 'production' },
    });
    // the harness names what it does not enforce; the sandbox is among it
    expect(unit.ignored).toEqual(
      expect.arrayContaining(['User', 'ProtectSystem', 'WatchdogSec', 'SystemCallFilter']),
    );
    expect(unit.ignored).not.toContain('Restart');
  });

  it('reads cccd-kiosk-rollback.service: a oneshot guard rollback, then reset-failed and start of the service', () => {
    const unit = parseServiceUnit(
      'cccd-kiosk-rollback.service',
      read('cccd-kiosk-rollback.service'),
      rewrite,
    );
    expect(unit.type).toBe('oneshot');
    expect(unit.execStart.map((c) => c.argv)).toEqual([
      ['/tmp/t/opt/deploy/release-guard.sh', 'rollback', '/tmp/t/opt', '/tmp/t/var', 'start-failed'],
    ]);
    expect(unit.execStartPost.map((c) => c.argv)).toEqual([
      ['/usr/bin/systemctl', 'reset-failed', 'cccd-kiosk.service'],
      ['/usr/bin/systemctl', 'start', '--no-block', 'cccd-kiosk.service'],
    ]);
    expect(unit.restart).toBe('no');
    expect(unit.onFailure).toEqual([]);
  });

  it('follows systemd.syntax(7): comments, continuation, repeated keys append, an empty value resets', () => {
    const sections = parseUnitText(
      '# comment\n[Service]\n; another\nEnvironment=A=1\nEnvironment=B=2 \\\n  C="x y"\nExecStartPre=/bin/a\nExecStartPre=\nExecStartPre=/bin/b\n',
    );
    const service = sections.get('Service')!;
    expect(service.get('Environment')).toEqual(['A=1', 'B=2    C="x y"']);
    expect(service.get('ExecStartPre')).toEqual(['/bin/b']);
    expect(
      parseServiceUnit('x.service', '[Service]\nEnvironment=B=2 C="x y"\nExecStart=/bin/true\n').environment,
    ).toEqual({
      B: '2',
      C: 'x y',
    });
  });

  it('parses time spans, command lines and prefixes as systemd.time(7) and systemd.service(5) say', () => {
    expect(parseTimespanMs('10min')).toBe(600_000);
    expect(parseTimespanMs('1min 30s')).toBe(90_000);
    expect(parseTimespanMs('250ms')).toBe(250);
    expect(parseTimespanMs('5')).toBe(5000);
    expect(() => parseTimespanMs('ten')).toThrow();
    expect(splitCommandLine(`/bin/echo "a b" 'c d' e`)).toEqual(['/bin/echo', 'a b', 'c d', 'e']);
    expect(parseExec('-/bin/false x')).toEqual({
      argv: ['/bin/false', 'x'],
      privileged: false,
      ignoreFailure: true,
    });
    expect(parseExec('+/bin/true')).toMatchObject({ privileged: true });
    expect(() => parseUnitText('Key=outside a section\n')).toThrow(/not a setting/);
    expect(() =>
      parseServiceUnit('x.service', '[Unit]\nStartLimitBurst=ten\n[Service]\nExecStart=/bin/true\n'),
    ).toThrow(/not a count/);
    expect(() => parseServiceUnit('x.service', '[Service]\nExecStart=/bin/echo "open\n')).toThrow(
      /unbalanced/,
    );
  });

  it('never throws anything but a parse error on arbitrary unit text (fuzzed)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseServiceUnit('fuzz.service', text);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toMatch(/unit file|fuzz\.service/);
        }
      }),
    );
  });
});

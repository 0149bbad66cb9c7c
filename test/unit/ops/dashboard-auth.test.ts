import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BadPasswordFile,
  checkPassword,
  cookieValue,
  csrfMatches,
  hashPassword,
  LoginThrottle,
  parsePasswordFile,
  SessionTable,
} from '../../../src/ops/dashboard/auth.js';

describe('operator login of the ops dashboard', () => {
  const line = hashPassword('alice', 'correct horse battery staple');

  it('checks a password against its scrypt line; a wrong password or an unknown name fails', () => {
    expect(line).toMatch(/^alice:scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const operators = parsePasswordFile(`# operators\n${line}\n`);
    expect(checkPassword(operators, 'alice', 'correct horse battery staple')).toBe(true);
    expect(checkPassword(operators, 'alice', 'correct horse battery stapl')).toBe(false);
    expect(checkPassword(operators, 'bob', 'correct horse battery staple')).toBe(false);
  });

  it('refuses short passwords and bad names when writing, and malformed lines or weak costs when reading', () => {
    expect(() => hashPassword('alice', 'short')).toThrow(BadPasswordFile);
    expect(() => hashPassword('Alice!', 'long enough password')).toThrow(BadPasswordFile);
    expect(() => parsePasswordFile('')).toThrow(/no operator/);
    expect(() => parsePasswordFile('alice:plain-text-password')).toThrow(/line 1/);
    expect(() => parsePasswordFile(line.replace('scrypt$32768$', 'scrypt$1024$'))).toThrow(/line 1/);
  });

  it('never throws anything but BadPasswordFile on any password file text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          parsePasswordFile(text);
        } catch (error) {
          expect(error).toBeInstanceOf(BadPasswordFile);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('sessions expire; the CSRF token is the session own', () => {
    let now = 0;
    const sessions = new SessionTable(1000, () => now);
    const { id, session } = sessions.open('alice');
    const other = sessions.open('bob').session;
    expect(sessions.find(id)?.operator).toBe('alice');
    expect(csrfMatches(session, session.csrf)).toBe(true);
    expect(csrfMatches(session, other.csrf)).toBe(false);
    expect(csrfMatches(session, undefined)).toBe(false);
    now = 1000;
    expect(sessions.find(id)).toBeUndefined();
  });

  it('reads one cookie from a Cookie header, whatever else the header holds', () => {
    expect(cookieValue('a=1; ops_session=xyz; b=2', 'ops_session')).toBe('xyz');
    expect(cookieValue('xops_session=1', 'ops_session')).toBeUndefined();
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        const value = cookieValue(header, 'ops_session');
        expect(value === undefined || typeof value === 'string').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses further logins from a client after 10 failures within a minute', () => {
    let now = 0;
    const throttle = new LoginThrottle(10, 60_000, () => now);
    for (let attempt = 0; attempt < 10; attempt++) throttle.failed('127.0.0.1');
    expect(throttle.allowed('127.0.0.1')).toBe(false);
    expect(throttle.allowed('127.0.0.2')).toBe(true);
    now = 60_001;
    expect(throttle.allowed('127.0.0.1')).toBe(true);
  });
});

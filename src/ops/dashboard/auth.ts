/**
 * Operator login of the dashboard. Passwords are checked against scrypt hashes (RFC 7914) kept in
 * a file of `name:scrypt$N$r$p$salt$hash` lines (`kiosk-ops operator add` writes them), so the
 * serving process never holds a password. A login gives an opaque session id in an HttpOnly,
 * SameSite=Strict cookie and a CSRF token the page sends back on every action: a page of another
 * site can neither read the token nor (SameSite) carry the cookie.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

/** scrypt cost: N=2^15, r=8, p=1 (OWASP's minimum for scrypt), 64-byte key. ~50 ms per check. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keyLength: 64 } as const;
const MAX_MEMORY = 128 * SCRYPT.N * SCRYPT.r * 2;
const OPERATOR_NAME = /^[a-z][a-z0-9._-]{0,31}$/;

/** A password file line that is not `name:scrypt$N$r$p$salt$hash`. */
export class BadPasswordFile extends Error {
  override readonly name = 'BadPasswordFile';
}

export function isOperatorName(name: string): boolean {
  return OPERATOR_NAME.test(name);
}

/** One line of the password file for `name`. */
export function hashPassword(name: string, password: string): string {
  if (!isOperatorName(name)) throw new BadPasswordFile('operator name: a-z, 0-9, . _ - (up to 32)');
  if (password.length < 12) throw new BadPasswordFile('password: at least 12 characters');
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, SCRYPT.keyLength, {
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    maxmem: MAX_MEMORY,
  });
  return `${name}:scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface StoredHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** Parses the password file; throws BadPasswordFile naming the line. */
export function parsePasswordFile(text: string): Map<string, StoredHash> {
  const operators = new Map<string, StoredHash>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([^:]+):scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line);
    const [, name = '', N, r, p, salt = '', hash = ''] = match ?? [];
    const cost = { N: Number(N), r: Number(r), p: Number(p) };
    if (
      !match ||
      !isOperatorName(name) ||
      !(cost.N >= 1 << 14 && cost.N <= 1 << 20 && (cost.N & (cost.N - 1)) === 0) ||
      !(cost.r >= 1 && cost.r <= 32 && cost.p >= 1 && cost.p <= 16)
    )
      throw new BadPasswordFile(`line ${index + 1} is not name:scrypt$N$r$p$salt$hash`);
    operators.set(name, { ...cost, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') });
  });
  if (operators.size === 0) throw new BadPasswordFile('no operator in the password file');
  return operators;
}

/** A dummy hash checked for unknown names, so a login takes as long whether the name exists or not. */
const DUMMY: StoredHash = {
  ...SCRYPT,
  salt: Buffer.alloc(16),
  hash: Buffer.alloc(SCRYPT.keyLength),
};

export function checkPassword(
  operators: ReadonlyMap<string, StoredHash>,
  name: string,
  password: string,
): boolean {
  const stored = operators.get(name);
  const against = stored ?? DUMMY;
  const computed = scryptSync(password, against.salt, against.hash.length, {
    N: against.N,
    r: against.r,
    p: against.p,
    maxmem: 128 * against.N * against.r * 2,
  });
  return timingSafeEqual(computed, against.hash) && stored !== undefined;
}

export interface OperatorSession {
  operator: string;
  csrf: string;
  expiresAt: number;
}

/** Sessions in memory: a restart of the dashboard logs every operator out, which is acceptable. */
export class SessionTable {
  private readonly sessions = new Map<string, OperatorSession>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  open(operator: string): { id: string; session: OperatorSession } {
    this.prune();
    const id = randomBytes(32).toString('base64url');
    const session = {
      operator,
      csrf: randomBytes(32).toString('base64url'),
      expiresAt: this.now() + this.ttlMs,
    };
    this.sessions.set(id, session);
    return { id, session };
  }

  find(id: string | undefined): OperatorSession | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session || session.expiresAt <= this.now()) {
      this.sessions.delete(id ?? '');
      return undefined;
    }
    return session;
  }

  close(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

/** Constant-time comparison of the CSRF token a request carries with its session's. */
export function csrfMatches(session: OperatorSession, token: string | undefined): boolean {
  if (!token) return false;
  const given = Buffer.from(token);
  const expected = Buffer.from(session.csrf);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Failed logins per client address: after `limit` failures within `windowMs` further attempts are
 * refused without checking, so a password cannot be guessed at scrypt speed.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 10,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  allowed(client: string): boolean {
    return this.recent(client).length < this.limit;
  }

  failed(client: string): void {
    this.failures.set(client, [...this.recent(client), this.now()]);
  }

  private recent(client: string): number[] {
    const since = this.now() - this.windowMs;
    const kept = (this.failures.get(client) ?? []).filter((at) => at > since);
    if (kept.length === 0) this.failures.delete(client);
    else this.failures.set(client, kept);
    return kept;
  }
}

/**
 * Enrolment of new kiosks at the reference registry: one-time tokens, the test CA that signs each
 * kiosk's client certificate, and the record of each kiosk's X25519 sealing public key.
 *
 * Certificates are made with the `openssl` CLI (OpenSSL 3): node:crypto verifies certificates but
 * cannot build or sign one. The CA here is a test CA for the demo and the tests; a production
 * registry signs with a CA whose key lives in an HSM.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { EnrolResponseBody, MessageBody } from '../link/messages.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import { describeKioskIdProblem, kioskIdProblem } from './kiosk-id.js';

const run = promisify(execFile);

/**
 * The kiosk-only issuing CA. The broker trusts it on the kiosk listener alone, whose ACL grants
 * nothing but a kiosk's own topics; services (registry, ops) hold certificates of another CA,
 * trusted only on the service listener (deploy/mosquitto/). So no certificate this CA signs, whatever
 * its CN, can carry a service's rights.
 */
export interface CaFiles {
  /** PEM certificate of the CA */
  cert: string;
  /** PEM private key of the CA */
  key: string;
  /** where the CA's CRL (PEM) is kept current for Mosquitto's `crlfile` (default: `crl.pem` beside `cert`) */
  crl?: string;
}

/** Creates (once) a test CA in `dir`: `<baseName>.pem` + `<baseName>.key` (EC P-256). Returns its files. */
export async function ensureTestCa(
  dir: string,
  commonName = 'cccd-kiosk test CA',
  baseName = 'ca',
): Promise<CaFiles> {
  const files = { cert: join(dir, `${baseName}.pem`), key: join(dir, `${baseName}.key`) };
  if (existsSync(files.cert) && existsSync(files.key)) return files;
  await mkdir(dir, { recursive: true });
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '3650',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    files.key,
    '-out',
    files.cert,
  ]);
  await chmod(files.key, 0o600);
  return files;
}

export interface SignedCertificate {
  certificate: string;
  /** SHA-256 of the request's public key (PEM): the same kiosk repeating a request is recognised */
  publicKeyFingerprint: string;
  /** upper-case hex, as the CRL database (`openssl ca` index) spells it */
  serial: string;
  /** the certificate's notAfter, as node:crypto prints it */
  notAfter: string;
}

/** The CSR could not be used: unparseable, bad self-signature, or a subject that is not the kiosk. */
export class BadCsr extends Error {
  override readonly name = 'BadCsr';
}

/**
 * Checks a PKCS#10 request (its self-signature and that its subject is exactly `CN=<kioskId>`,
 * the identity Mosquitto's `use_identity_as_username` will see) and signs a client certificate.
 */
export async function signClientCertificate(
  ca: CaFiles,
  csrPem: string,
  kioskId: string,
  days = 825,
): Promise<SignedCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'enrol-'));
  try {
    const csrFile = join(dir, 'kiosk.csr');
    await writeFile(csrFile, csrPem);
    let subject: string;
    let publicKey: string;
    try {
      const checked = await run('openssl', [
        'req',
        '-in',
        csrFile,
        '-noout',
        '-verify',
        '-subject',
        '-nameopt',
        'RFC2253',
      ]);
      subject = checked.stdout.trim();
      publicKey = (await run('openssl', ['req', '-in', csrFile, '-noout', '-pubkey'])).stdout;
    } catch {
      throw new BadCsr('the certificate request is not a valid, self-signed PKCS#10 request');
    }
    if (subject !== `subject=CN=${kioskId}`)
      throw new BadCsr(`the certificate request's subject must be CN=${kioskId}`);
    const extFile = join(dir, 'client.ext');
    await writeFile(
      extFile,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=clientAuth',
        '',
      ].join('\n'),
    );
    const certFile = join(dir, 'kiosk.pem');
    const serial = randomBytes(16)
      .toString('hex')
      .replace(/^[089a-f]/, '1')
      .toUpperCase();
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csrFile,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      `0x${serial}`,
      '-days',
      String(days),
      '-extfile',
      extFile,
      '-out',
      certFile,
    ]);
    const certificate = await readFile(certFile, 'utf8');
    return {
      certificate,
      publicKeyFingerprint: createHash('sha256').update(publicKey.trim()).digest('hex'),
      serial,
      notAfter: new X509Certificate(certificate).validTo,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** What a token lets its holder do: a first enrolment, or replacing an enrolled kiosk's certificate. */
export type TokenPurpose = 'enrol' | 're-enrol';

/** Operations asked for something the kiosk's state does not allow (unregistered, reserved …). */
export class EnrolmentAdminError extends Error {
  override readonly name = 'EnrolmentAdminError';
}

type Refusal = Extract<EnrolResponseBody, { status: 'refused' }>;
const refused = (reason: Refusal['reason'], detail: string): Refusal => ({
  status: 'refused',
  reason,
  detail,
});

interface TokenRow {
  kiosk_id: string;
  purpose: TokenPurpose;
  used_by: string | null;
  key_sha256: string | null;
}

interface EnrolledRow {
  key_sha256: string;
  certificate: string | null;
  cert_serial: string | null;
  cert_not_after: string | null;
}

/** `openssl ca`'s time format (UTCTime, YYMMDDHHMMSSZ) for the CRL database. */
const utcTime = (date: Date) => `${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`;

/**
 * Kiosk ids, tokens, enrolled kiosks and revocations in the registry's SQLite file.
 *
 * - Operations register a kiosk id first (`registerKiosk`); a token is always bound to one
 *   registered id (`issueToken`). A token is stored only as its SHA-256 and works once.
 * - A first enrolment needs an `enrol` token. An enrolled id needs a `re-enrol` token: the new
 *   certificate replaces the old one, which is revoked and leaves the CRL Mosquitto reads, and only
 *   then may the sealing key change. Without that token nothing of the enrolled kiosk changes.
 * - The same kiosk repeating its request with the same token and key (a provisioning re-run after a
 *   lost answer) gets the same certificate again.
 */
export class EnrolmentDesk {
  private constructor(
    private readonly db: SqliteDatabase,
    private readonly ca: CaFiles,
    private readonly crlFile: string,
  ) {}

  static async open(db: SqliteDatabase, ca: CaFiles): Promise<EnrolmentDesk> {
    await db.exec(`
      CREATE TABLE IF NOT EXISTS registered_kiosks (
        kiosk_id      TEXT PRIMARY KEY,
        registered_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS kiosk_enrolment_tokens (
        token_hash   TEXT PRIMARY KEY,
        kiosk_id     TEXT NOT NULL REFERENCES registered_kiosks (kiosk_id),
        purpose      TEXT NOT NULL CHECK (purpose IN ('enrol', 're-enrol')),
        created_at   TEXT NOT NULL,
        used_at      TEXT,
        used_by      TEXT,
        key_sha256   TEXT
      );
      CREATE TABLE IF NOT EXISTS enrolled_kiosks (
        kiosk_id           TEXT PRIMARY KEY,
        sealing_public_key TEXT NOT NULL,
        key_sha256         TEXT NOT NULL,
        enrolled_at        TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS revoked_certificates (
        serial     TEXT PRIMARY KEY,
        kiosk_id   TEXT NOT NULL,
        not_after  TEXT NOT NULL,
        revoked_at TEXT NOT NULL
      );`);
    // columns added after the first release of enrolled_kiosks
    const columns = await db.all<{ name: string }>('PRAGMA table_info(enrolled_kiosks)');
    for (const column of ['certificate', 'cert_serial', 'cert_not_after'])
      if (!columns.some((existing) => existing.name === column))
        await db.exec(`ALTER TABLE enrolled_kiosks ADD COLUMN ${column} TEXT`);
    await db.exec(`
      CREATE TRIGGER IF NOT EXISTS revoke_replaced_certificate
      AFTER UPDATE OF cert_serial ON enrolled_kiosks
      WHEN OLD.cert_serial IS NOT NULL AND OLD.cert_serial IS NOT NEW.cert_serial
      BEGIN
        INSERT OR IGNORE INTO revoked_certificates (serial, kiosk_id, not_after, revoked_at)
        VALUES (OLD.cert_serial, OLD.kiosk_id, COALESCE(OLD.cert_not_after, NEW.enrolled_at), NEW.enrolled_at);
      END;`);
    const desk = new EnrolmentDesk(db, ca, ca.crl ?? join(dirname(ca.cert), 'crl.pem'));
    // Mosquitto will not start on a `crlfile` that does not exist: there is always one.
    if (!existsSync(desk.crlFile)) await desk.writeCrl();
    return desk;
  }

  /** The PEM CRL Mosquitto's kiosk listener reads (`crlfile`). */
  get crlPath(): string {
    return this.crlFile;
  }

  /** Operations register a kiosk id before any token exists for it. Idempotent. */
  async registerKiosk(kioskId: string): Promise<void> {
    const problem = kioskIdProblem(kioskId);
    if (problem) throw new EnrolmentAdminError(`${String(kioskId)}: ${describeKioskIdProblem(problem)}`);
    await this.db.run('INSERT OR IGNORE INTO registered_kiosks (kiosk_id, registered_at) VALUES (?, ?)', [
      kioskId,
      new Date().toISOString(),
    ]);
  }

  /**
   * A new one-time token for the registered `kioskId`: `enrol` while it is not enrolled,
   * `re-enrol` once it is (a replaced kiosk computer, a lost key).
   */
  async issueToken(kioskId: string, purpose: TokenPurpose = 'enrol'): Promise<string> {
    const registered = await this.db.get('SELECT 1 FROM registered_kiosks WHERE kiosk_id = ?', [kioskId]);
    if (!registered)
      throw new EnrolmentAdminError(`${kioskId} is not registered: register the kiosk id first`);
    const enrolled = await this.enrolled(kioskId);
    if (purpose === 'enrol' && enrolled)
      throw new EnrolmentAdminError(`${kioskId} is already enrolled: issue a re-enrolment token`);
    if (purpose === 're-enrol' && !enrolled)
      throw new EnrolmentAdminError(`${kioskId} is not enrolled yet: issue an enrolment token`);
    const token = `${purpose}-${randomUUID()}`;
    await this.db.run(
      'INSERT INTO kiosk_enrolment_tokens (token_hash, kiosk_id, purpose, created_at) VALUES (?, ?, ?, ?)',
      [hashToken(token), kioskId, purpose, new Date().toISOString()],
    );
    return token;
  }

  async sealingPublicKey(kioskId: string): Promise<string | undefined> {
    const row = await this.db.get<{ sealing_public_key: string }>(
      'SELECT sealing_public_key FROM enrolled_kiosks WHERE kiosk_id = ?',
      [kioskId],
    );
    return row?.sealing_public_key;
  }

  /**
   * Revokes the enrolled kiosk's current certificate (a stolen or retired kiosk) and rewrites the
   * CRL. The id stays enrolled: only a re-enrolment token gives it a certificate again. Returns the
   * revoked serial, or undefined when the kiosk holds none.
   */
  async revokeCertificate(kioskId: string): Promise<string | undefined> {
    const enrolled = await this.enrolled(kioskId);
    if (!enrolled) throw new EnrolmentAdminError(`${kioskId} is not enrolled`);
    if (!enrolled.cert_serial) return undefined;
    // the trigger made in `open` records the revocation in the same write
    await this.db.run(
      'UPDATE enrolled_kiosks SET cert_serial = NULL, certificate = NULL, enrolled_at = ? WHERE kiosk_id = ?',
      [new Date().toISOString(), kioskId],
    );
    await this.writeCrl();
    return enrolled.cert_serial;
  }

  /** Serials (upper-case hex) of the certificates revoked so far. */
  async revokedSerials(): Promise<string[]> {
    const rows = await this.db.all<{ serial: string }>(
      'SELECT serial FROM revoked_certificates ORDER BY serial',
    );
    return rows.map((row) => row.serial);
  }

  private enrolled(kioskId: string): Promise<EnrolledRow | undefined> {
    return this.db.get<EnrolledRow>(
      'SELECT key_sha256, certificate, cert_serial, cert_not_after FROM enrolled_kiosks WHERE kiosk_id = ?',
      [kioskId],
    );
  }

  async enrol(request: MessageBody<'enrol.request'>): Promise<EnrolResponseBody> {
    const problem = kioskIdProblem(request.kioskId);
    if (problem) return refused('kiosk-id-refused', describeKioskIdProblem(problem));
    const tokenHash = hashToken(request.token);
    const token = await this.db.get<TokenRow>(
      'SELECT kiosk_id, purpose, used_by, key_sha256 FROM kiosk_enrolment_tokens WHERE token_hash = ?',
      [tokenHash],
    );
    if (!token) return refused('token-unknown', 'this enrolment token was never issued by the registry');
    if (token.kiosk_id !== request.kioskId)
      return refused('token-other-kiosk', 'this enrolment token was issued for another kiosk');
    const enrolled = await this.enrolled(request.kioskId);
    // a lost answer: the same kiosk, token and key get the certificate they were given
    if (
      enrolled?.certificate &&
      token.used_by === request.kioskId &&
      token.key_sha256 === enrolled.key_sha256
    ) {
      const repeated = await this.keyFingerprint(request.csr);
      if (repeated === enrolled.key_sha256) return this.answer(enrolled.certificate);
    }
    if (enrolled && token.purpose !== 're-enrol')
      return refused(
        're-enrolment-required',
        'this kiosk is already enrolled; replacing its certificate and keys needs a re-enrolment token from operations',
      );
    let signed: SignedCertificate;
    try {
      signed = await signClientCertificate(this.ca, request.csr, request.kioskId);
    } catch (error) {
      if (error instanceof BadCsr) return refused('bad-request', error.message);
      throw error;
    }
    // claimed atomically: of two requests racing with one token, one wins
    const claimed = await this.db.run(
      'UPDATE kiosk_enrolment_tokens SET used_at = ?, used_by = ?, key_sha256 = ? WHERE token_hash = ? AND used_at IS NULL',
      [new Date().toISOString(), request.kioskId, signed.publicKeyFingerprint, tokenHash],
    );
    if (claimed.changes !== 1)
      return refused(
        'token-used',
        'this enrolment token has already been used; ask operations for a new one',
      );
    await this.record(request, signed, enrolled);
    return this.answer(signed.certificate);
  }

  /**
   * The new certificate and sealing key stand. One statement: the trigger made in `open` revokes
   * the certificate it replaces in the same write, so no crash leaves both valid.
   */
  private async record(
    request: MessageBody<'enrol.request'>,
    signed: SignedCertificate,
    previous: EnrolledRow | undefined,
  ): Promise<void> {
    await this.db.run(
      `INSERT INTO enrolled_kiosks (kiosk_id, sealing_public_key, key_sha256, enrolled_at, certificate, cert_serial, cert_not_after)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (kiosk_id) DO UPDATE SET sealing_public_key = excluded.sealing_public_key,
         key_sha256 = excluded.key_sha256, enrolled_at = excluded.enrolled_at, certificate = excluded.certificate,
         cert_serial = excluded.cert_serial, cert_not_after = excluded.cert_not_after`,
      [
        request.kioskId,
        request.sealingPublicKey,
        signed.publicKeyFingerprint,
        new Date().toISOString(),
        signed.certificate,
        signed.serial,
        new Date(signed.notAfter).toISOString(),
      ],
    );
    if (previous?.cert_serial) await this.writeCrl();
  }

  private async answer(certificate: string): Promise<EnrolResponseBody> {
    return { status: 'ok', certificate, ca: await readFile(this.ca.cert, 'utf8') };
  }

  private async keyFingerprint(csrPem: string): Promise<string | undefined> {
    const dir = await mkdtemp(join(tmpdir(), 'enrol-key-'));
    try {
      await writeFile(join(dir, 'kiosk.csr'), csrPem);
      const { stdout } = await run('openssl', ['req', '-in', join(dir, 'kiosk.csr'), '-noout', '-pubkey']);
      return createHash('sha256').update(stdout.trim()).digest('hex');
    } catch {
      return undefined;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Rewrites the CA's CRL from the revocations recorded here. */
  async writeCrl(): Promise<void> {
    const revoked = await this.db.all<RevokedCertificate>(
      'SELECT serial, not_after AS notAfter, revoked_at AS revokedAt FROM revoked_certificates ORDER BY serial',
    );
    await writeCrl(this.ca, this.crlFile, revoked);
  }
}

export interface RevokedCertificate {
  /** upper-case hex */
  serial: string;
  notAfter: string;
  revokedAt: string;
}

/**
 * Writes `ca`'s CRL (PEM, valid 30 days) listing `revoked`, atomically: a Mosquitto reloading
 * (SIGHUP) mid-write reads the old list or the new one. `openssl ca` signs it from a throw-away
 * database listing exactly the revoked serials. With no revocations it is the initial, empty CRL
 * the broker's `crlfile` needs before the registry ever starts.
 */
export async function writeCrl(ca: CaFiles, crlFile: string, revoked: RevokedCertificate[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'enrol-crl-'));
  try {
    const index = revoked
      .map(
        (row) =>
          `R\t${utcTime(new Date(row.notAfter))}\t${utcTime(new Date(row.revokedAt))}\t${row.serial}\tunknown\t/CN=revoked\n`,
      )
      .join('');
    await writeFile(join(dir, 'index.txt'), index);
    await writeFile(
      join(dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = kiosk_ca',
        '[kiosk_ca]',
        `database = ${join(dir, 'index.txt')}`,
        'default_md = sha256',
        'default_crl_days = 30',
        '',
      ].join('\n'),
    );
    const temp = `${crlFile}.${process.pid}.tmp`;
    await mkdir(dirname(crlFile), { recursive: true });
    await run('openssl', [
      'ca',
      '-gencrl',
      '-config',
      join(dir, 'ca.cnf'),
      '-cert',
      ca.cert,
      '-keyfile',
      ca.key,
      '-out',
      temp,
    ]);
    // the broker reads it as its own user
    await chmod(temp, 0o644);
    await rename(temp, crlFile);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Enrolment of new kiosks at the reference registry: one-time tokens, the test CA that signs each
 * kiosk's client certificate, and the record of each kiosk's X25519 sealing public key.
 *
 * Certificates are made with the `openssl` CLI (OpenSSL 3): node:crypto verifies certificates but
 * cannot build or sign one. The CA here is a test CA for the demo and the tests; a production
 * registry signs with a CA whose key lives in an HSM.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EnrolResponseBody, MessageBody } from '../link/messages.js';
import type { SqliteDatabase } from '../store/sqlite.js';

const run = promisify(execFile);

export interface CaFiles {
  /** PEM certificate of the CA */
  cert: string;
  /** PEM private key of the CA */
  key: string;
}

/** Creates (once) a test CA in `dir`: `ca.pem` + `ca.key` (EC P-256). Returns its files. */
export async function ensureTestCa(dir: string, commonName = 'cccd-kiosk test CA'): Promise<CaFiles> {
  const files = { cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
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
): Promise<{ certificate: string; publicKeyFingerprint: string }> {
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
      `0x${randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1')}`,
      '-days',
      String(days),
      '-extfile',
      extFile,
      '-out',
      certFile,
    ]);
    return {
      certificate: await readFile(certFile, 'utf8'),
      publicKeyFingerprint: createHash('sha256').update(publicKey.trim()).digest('hex'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Tokens and enrolled kiosks in the registry's SQLite file. A token is stored only as its SHA-256
 * and works once; the same kiosk repeating its request with the same key (a provisioning re-run
 * after a lost answer) gets its certificate again, anyone else is told the token is used.
 */
export class EnrolmentDesk {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly ca: CaFiles,
  ) {}

  static async open(db: SqliteDatabase, ca: CaFiles): Promise<EnrolmentDesk> {
    await db.exec(`
      CREATE TABLE IF NOT EXISTS enrolment_tokens (
        token_hash   TEXT PRIMARY KEY,
        kiosk_id     TEXT,
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
      );`);
    return new EnrolmentDesk(db, ca);
  }

  /** A new one-time token, optionally only for `kioskId`. */
  async issueToken(kioskId?: string): Promise<string> {
    const token = `enrol-${randomUUID()}`;
    await this.db.run('INSERT INTO enrolment_tokens (token_hash, kiosk_id, created_at) VALUES (?, ?, ?)', [
      hashToken(token),
      kioskId ?? null,
      new Date().toISOString(),
    ]);
    return token;
  }

  async sealingPublicKey(kioskId: string): Promise<string | undefined> {
    const row = await this.db.get<{ sealing_public_key: string }>(
      'SELECT sealing_public_key FROM enrolled_kiosks WHERE kiosk_id = ?',
      [kioskId],
    );
    return row?.sealing_public_key;
  }

  async enrol(request: MessageBody<'enrol.request'>): Promise<EnrolResponseBody> {
    const refused = (
      reason: 'token-unknown' | 'token-used' | 'token-other-kiosk' | 'bad-request',
      detail: string,
    ) => ({ status: 'refused', reason, detail }) as const;
    const tokenHash = hashToken(request.token);
    const token = await this.db.get<{
      kiosk_id: string | null;
      used_by: string | null;
      key_sha256: string | null;
    }>('SELECT kiosk_id, used_by, key_sha256 FROM enrolment_tokens WHERE token_hash = ?', [tokenHash]);
    if (!token) return refused('token-unknown', 'this enrolment token was never issued by the registry');
    if (token.kiosk_id !== null && token.kiosk_id !== request.kioskId)
      return refused('token-other-kiosk', 'this enrolment token was issued for another kiosk');
    let signed;
    try {
      signed = await signClientCertificate(this.ca, request.csr, request.kioskId);
    } catch (error) {
      if (error instanceof BadCsr) return refused('bad-request', error.message);
      throw error;
    }
    const repeat = token.used_by === request.kioskId && token.key_sha256 === signed.publicKeyFingerprint;
    if (!repeat) {
      // claimed atomically: of two requests racing with one token, one wins
      const claimed = await this.db.run(
        'UPDATE enrolment_tokens SET used_at = ?, used_by = ?, key_sha256 = ? WHERE token_hash = ? AND used_at IS NULL',
        [new Date().toISOString(), request.kioskId, signed.publicKeyFingerprint, tokenHash],
      );
      if (claimed.changes !== 1)
        return refused(
          'token-used',
          'this enrolment token has already been used; ask operations for a new one',
        );
    }
    await this.db.run(
      `INSERT INTO enrolled_kiosks (kiosk_id, sealing_public_key, key_sha256, enrolled_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (kiosk_id) DO UPDATE SET sealing_public_key = excluded.sealing_public_key,
         key_sha256 = excluded.key_sha256, enrolled_at = excluded.enrolled_at`,
      [request.kioskId, request.sealingPublicKey, signed.publicKeyFingerprint, new Date().toISOString()],
    );
    return { status: 'ok', certificate: signed.certificate, ca: await readFile(this.ca.cert, 'utf8') };
  }
}

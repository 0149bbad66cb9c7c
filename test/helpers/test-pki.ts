import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Runs openssl in `dir`; a failure throws with openssl's own message. */
function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

const NEW_KEY = ['-newkey', 'rsa:2048', '-nodes'];

/** A self-signed certificate `<name>.pem` with its key `<name>.key`, valid for a day. */
export function selfSigned(dir: string, name: string, subject: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    ...NEW_KEY,
    '-days',
    '1',
    '-subj',
    subject,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
  );
}

/**
 * A broker PKI in `dir`, made with openssl as a technician would: `ca.pem`/`ca.key`, a server
 * certificate for 127.0.0.1 (`server.pem`/`server.key`) and a kiosk client certificate whose CN is
 * the kiosk id (`kiosk.pem`/`kiosk.key`). The files are left world-readable because Mosquitto
 * started as root reads them as the mosquitto user.
 */
export function makeBrokerPki(dir: string, kioskId: string): void {
  selfSigned(dir, 'ca', '/CN=test-ca');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, subject] of [
    ['server', '/CN=127.0.0.1'],
    ['kiosk', `/CN=${kioskId}`],
  ] as const) {
    openssl(dir, 'req', ...NEW_KEY, '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    const extensions = name === 'server' ? ['-extfile', 'server.ext'] : [];
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.pem`,
      ...extensions,
    );
  }
  chmodSync(dir, 0o755);
  for (const file of readdirSync(dir)) chmodSync(join(dir, file), 0o644);
}

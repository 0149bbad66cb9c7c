import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const openssl = (dir: string, ...args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A certificate `<name>.pem` with its key `<name>.key`, signed by `ca.pem` (OpenSSL, 1 day). */
function issue(dir: string, name: string, cn: string, serverIp?: string): void {
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  );
  if (serverIp) writeFileSync(join(dir, `${name}.ext`), `subjectAltName=IP:${serverIp}\n`);
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
    ...(serverIp ? ['-extfile', `${name}.ext`] : []),
  );
}

/**
 * A test PKI in `dir`: a CA, a server certificate for 127.0.0.1 and one client certificate per
 * entry of `clients` (file name → CN). Files are world-readable: Mosquitto started as root reads
 * them as the mosquitto user.
 */
export function makeTestPki(dir: string, clients: Record<string, string>): void {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  issue(dir, 'server', '127.0.0.1', '127.0.0.1');
  for (const [name, cn] of Object.entries(clients)) issue(dir, name, cn);
  chmodSync(dir, 0o755);
  for (const file of readdirSync(dir)) chmodSync(join(dir, file), 0o644);
}

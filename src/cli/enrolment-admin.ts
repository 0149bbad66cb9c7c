/**
 * `kiosk-ops enrol …`: operations' side of enrolment, run where the registry's database and the
 * kiosk issuing CA live. `token` registers a kiosk id and prints a one-time token bound to it
 * (`--re-enrol` for an enrolled kiosk that must get a new certificate and keys); `revoke` revokes
 * a kiosk's certificate and rewrites the CRL the broker reads (then reload Mosquitto).
 */
import type { Command } from 'commander';
import { type CaFiles, EnrolmentDesk, type TokenPurpose } from '../registry/enrolment.js';
import { SqliteDatabase } from '../store/sqlite.js';

export interface EnrolmentAdminOptions {
  /** the registry's SQLite file */
  registryDb: string;
  ca: CaFiles;
}

async function withDesk<T>(
  options: EnrolmentAdminOptions,
  work: (desk: EnrolmentDesk) => Promise<T>,
): Promise<T> {
  const db = await SqliteDatabase.open(options.registryDb);
  try {
    // the registry may be running on the same file
    await db.exec('PRAGMA busy_timeout = 5000');
    return await work(await EnrolmentDesk.open(db, options.ca));
  } finally {
    await db.close();
  }
}

/** Registers `kioskId` (idempotent) and mints a one-time token bound to it. */
export function mintEnrolmentToken(
  options: EnrolmentAdminOptions,
  kioskId: string,
  purpose: TokenPurpose,
): Promise<string> {
  return withDesk(options, async (desk) => {
    await desk.registerKiosk(kioskId);
    return desk.issueToken(kioskId, purpose);
  });
}

/** Revokes `kioskId`'s certificate; the serial revoked (undefined: it held none) and the CRL path. */
export function revokeKioskCertificate(
  options: EnrolmentAdminOptions,
  kioskId: string,
): Promise<{ serial: string | undefined; crl: string }> {
  return withDesk(options, async (desk) => ({
    serial: await desk.revokeCertificate(kioskId),
    crl: desk.crlPath,
  }));
}

interface DeskFlags {
  registryDb: string;
  caCert: string;
  caKey: string;
  crl?: string;
}

const deskOptions = (command: Command) =>
  command
    .requiredOption('--registry-db <file>', "the registry's SQLite file")
    .requiredOption('--ca-cert <pem>', 'the kiosk issuing CA certificate')
    .requiredOption('--ca-key <pem>', 'the kiosk issuing CA private key')
    .option('--crl <file>', "the CRL the broker's kiosk listener reads (default: crl.pem beside --ca-cert)");

const adminOptions = (flags: DeskFlags): EnrolmentAdminOptions => ({
  registryDb: flags.registryDb,
  ca: { cert: flags.caCert, key: flags.caKey, ...(flags.crl ? { crl: flags.crl } : {}) },
});

/** Adds `enrol token` and `enrol revoke` to `kiosk-ops`. */
export function addEnrolmentCommands(program: Command, print: (value: unknown, text: string) => void): void {
  const enrol = program.command('enrol').description('kiosk ids, enrolment tokens and revocation');
  deskOptions(enrol.command('token'))
    .description('register a kiosk id and print a one-time enrolment token bound to it')
    .argument('<kiosk-id>', 'the kiosk id (its certificate CN)')
    .option(
      '--re-enrol',
      'a re-enrolment token for an enrolled kiosk (new certificate and keys; the old certificate is revoked)',
    )
    .addHelpText(
      'after',
      '\nExample:\n  $ kiosk-ops enrol token hn-0042 --registry-db /var/lib/registry/registry.sqlite --ca-cert kiosk-ca.pem --ca-key kiosk-ca.key',
    )
    .action(async (kioskId: string, flags: DeskFlags & { reEnrol?: boolean }) => {
      const purpose: TokenPurpose = flags.reEnrol ? 're-enrol' : 'enrol';
      const token = await mintEnrolmentToken(adminOptions(flags), kioskId, purpose);
      print(
        { kioskId, purpose, token },
        `${token}\n(one use, for kiosk ${kioskId} only: kiosk provision --kiosk-id ${kioskId} --token …)`,
      );
    });
  deskOptions(enrol.command('revoke'))
    .description("revoke a kiosk's certificate and rewrite the CRL; then reload Mosquitto (SIGHUP)")
    .argument('<kiosk-id>', 'the kiosk id')
    .action(async (kioskId: string, flags: DeskFlags) => {
      const { serial, crl } = await revokeKioskCertificate(adminOptions(flags), kioskId);
      print(
        { kioskId, serial: serial ?? null, crl },
        serial
          ? `revoked ${kioskId} (serial ${serial}); ${crl} rewritten: reload the broker (systemctl reload mosquitto)`
          : `${kioskId} holds no certificate; nothing revoked`,
      );
    });
}

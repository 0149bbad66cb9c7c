/**
 * Operations' side of enrolment through the real `kiosk-ops enrol` CLI on a real registry database
 * and the kiosk issuing CA made with openssl: ids are registered before tokens exist, reserved
 * names are refused, an enrolled kiosk needs a re-enrolment token, and a revocation lands in the CRL.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CaFiles, EnrolmentDesk, ensureTestCa } from '../../../src/registry/enrolment.js';
import { SqliteDatabase } from '../../../src/store/sqlite.js';
import { spawnScript } from '../../helpers/processes.js';
import { keyAndCsr } from '../../helpers/deploy-brokers.js';

const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));

describe('kiosk-ops enrol', () => {
  let dir: string;
  let ca: CaFiles;
  let db: SqliteDatabase;
  let desk: EnrolmentDesk;

  const ops = async (...args: string[]) => {
    const run = spawnScript(OPS_CLI, [
      '--json',
      'enrol',
      ...args,
      '--registry-db',
      join(dir, 'registry.sqlite'),
      '--ca-cert',
      ca.cert,
      '--ca-key',
      ca.key,
    ]);
    const { code } = await run.exited;
    return { code, output: run.output() };
  };
  const tokenOf = (output: string) =>
    (JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as { token?: string }).token ?? '';

  const enrolWith = (kioskId: string, token: string) => {
    keyAndCsr(dir, kioskId, kioskId);
    const csr = readFileSync(join(dir, `${kioskId}.csr`), 'utf8');
    return desk.enrol({ kioskId, token, csr, sealingPublicKey: Buffer.alloc(32, 1).toString('base64') });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'enrol-admin-'));
    ca = await ensureTestCa(dir, 'test kiosk issuing CA', 'kiosk-ca');
    db = await SqliteDatabase.open(join(dir, 'registry.sqlite'));
    desk = await EnrolmentDesk.open(db, ca);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('mints tokens bound to a registered id, refuses reserved ids, and revokes into the CRL', async () => {
    const reserved = await ops('token', 'registry');
    expect(reserved.code).not.toBe(0);
    expect(reserved.output).toMatch(/reserved for a service/);

    const first = await ops('token', 'hn-0100');
    expect(first.code, first.output).toBe(0);
    const enrolled = await enrolWith('hn-0100', tokenOf(first.output));
    expect(enrolled.status).toBe('ok');

    // enrolled: a plain token is refused, a re-enrolment token is minted
    const again = await ops('token', 'hn-0100');
    expect(again.code).not.toBe(0);
    expect(again.output).toMatch(/already enrolled: issue a re-enrolment token/);
    const reEnrol = await ops('token', 'hn-0100', '--re-enrol');
    expect(reEnrol.code, reEnrol.output).toBe(0);
    expect(tokenOf(reEnrol.output)).toMatch(/^re-enrol-/);

    const revoked = await ops('revoke', 'hn-0100');
    expect(revoked.code, revoked.output).toBe(0);
    const { serial, crl } = JSON.parse(revoked.output.trim().split('\n').at(-1) ?? '{}') as {
      serial: string;
      crl: string;
    };
    const listed = execFileSync('openssl', ['crl', '-in', crl, '-noout', '-text']).toString();
    expect(listed.replace(/\s/g, '')).toContain(`SerialNumber:${serial}`);
    expect(await desk.revokedSerials()).toContain(serial);
  });
});

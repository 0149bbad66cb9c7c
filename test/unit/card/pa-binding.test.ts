import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestPki } from '../../../src/demo/test-pki.js';
import { SecureMessagingError } from '../../../src/card/errors.js';
import { parseTrustList, verifyPassiveAuthentication } from '../../../src/card/pa.js';
import { SecureMessaging } from '../../../src/card/sm.js';
import { buildSod } from '../../../src/card/sod.js';

/**
 * Issue 12, the card layer: with signedAttrs present the signature covers the attributes, so only
 * messageDigest ties the data-group hashes to it — a SOD without it is refused. And a response
 * whose MAC is off by one bit is refused (compared in constant time).
 */
describe('passive authentication binds the data-group hashes to the signature', () => {
  const pki = createTestPki();
  const trustAnchors = parseTrustList(pki.trustListPem);
  const dataGroups = new Map([[1, Buffer.from('forged DG1 of the attacker')]]);
  const sodWith = (omitMessageDigest: boolean) =>
    buildSod({
      dataGroups,
      hashAlgorithm: 'sha256',
      signerKey: pki.documentSigner.privateKey,
      signerCertificate: pki.documentSigner.der,
      omitMessageDigest,
    });

  it('passes a SOD whose signedAttrs carry messageDigest', () => {
    expect(verifyPassiveAuthentication({ sod: sodWith(false), dataGroups, trustAnchors }).passed).toBe(true);
  });

  it('refuses a SOD with signedAttrs but no messageDigest, though its signature verifies', () => {
    const verdict = verifyPassiveAuthentication({ sod: sodWith(true), dataGroups, trustAnchors });
    expect(verdict.passed).toBe(false);
    expect(verdict.checks).toContainEqual(expect.objectContaining({ check: 'signature', passed: true }));
    expect(verdict.checks).toContainEqual(
      expect.objectContaining({ check: 'message-digest', passed: false }),
    );
  });
});

describe('secure messaging MACs', () => {
  it('refuses a response whose MAC differs in one bit, and takes the genuine one', () => {
    const keys = { ksEnc: randomBytes(16), ksMac: randomBytes(16), ssc: 7n };
    const terminal = new SecureMessaging(keys);
    const chip = new SecureMessaging(keys);
    const wire = chip.wrapResponse({ data: Buffer.from('DG1'), sw: 0x9000 });
    const tampered = Buffer.from(wire);
    tampered[wire.length - 3] = (tampered[wire.length - 3] ?? 0) ^ 0x01; // last MAC byte, before SW
    expect(() =>
      new SecureMessaging(keys).unwrapResponse({ data: tampered.subarray(0, -2), sw: 0x9000 }),
    ).toThrow(SecureMessagingError);
    expect(terminal.unwrapResponse({ data: wire.subarray(0, -2), sw: 0x9000 }).data.toString()).toBe('DG1');
  });
});

import { type X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AccessControlError, ChipAuthError, parseTrustList, readCard } from '../../../src/card/index.js';
import {
  type ChipImage,
  buildChipImage,
  cloneWithOwnKeys,
  newChipAuthenticationKey,
} from '../../../devices/card-reader/chip-image.js';
import { ChipEmulator } from '../../../devices/card-reader/emulator.js';
import { type TestPki, createTestPki } from '../../../src/demo/test-pki.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';

/** PACE, CA and the access policy against the chip emulator, in process (the vpcd test runs the same through pcscd). */
let pki: TestPki;
let trust: X509Certificate[];
let paceOnly: ChipImage;

beforeAll(() => {
  pki = createTestPki();
  trust = parseTrustList(pki.trustListPem);
  paceOnly = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'pace-only', activeAuthentication: 'ec' });
});

const can = TRAN_THI_MAI.idNumber.slice(-6);

describe('PACE and Chip Authentication against the emulated CCCD', () => {
  it('PACE-only chip, CAN = last six ID digits: PACE, CA, PA, DG1/2/13/14/15; authentic', async () => {
    const chip = new ChipEmulator(paceOnly);
    const result = await readCard(chip, {
      access: { kind: 'can', can },
      trustAnchors: trust,
      accessPolicy: 'require-pace',
    });
    expect(result.accessProtocol).toBe('pace');
    expect([...result.dataGroups.keys()].sort((a, b) => a - b)).toEqual([1, 2, 13, 14, 15]);
    expect(result.chip.status).toBe('passed');
    expect(result.passive.passed).toBe(true);
    expect(result.authenticity).toMatchObject({ authentic: true, caBound: true });
    expect(chip.protocols).toEqual({ pace: 1, bac: 0, chipAuthentication: 1 });
  });

  it('PACE with the MRZ password on NIST P-256 (parameterId 12)', async () => {
    const p256 = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'pace-only', paceParameterId: 12 });
    const result = await readCard(new ChipEmulator(p256), {
      access: { kind: 'bac', key: p256.bacKey },
      trustAnchors: trust,
    });
    expect(result.accessProtocol).toBe('pace');
    expect(result.authenticity.authentic).toBe(true);
  });

  it('BAC-only chip: BAC with the MRZ key given beside the CAN, then CA over 3DES SM re-keys to AES', async () => {
    const bacOnly = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'bac-only' });
    const chip = new ChipEmulator(bacOnly);
    const result = await readCard(chip, {
      access: { kind: 'can', can, bacKey: bacOnly.bacKey },
      trustAnchors: trust,
    });
    expect(result.accessProtocol).toBe('bac');
    expect(result.chip.status).toBe('passed');
    expect(result.authenticity.authentic).toBe(true);
    expect(chip.protocols).toEqual({ pace: 0, bac: 1, chipAuthentication: 1 });
  });

  it('require-pace refuses a BAC-only chip at the policy step, with no BAC tried', async () => {
    const bacOnly = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'bac-only' });
    const chip = new ChipEmulator(bacOnly);
    const error = await readCard(chip, {
      access: { kind: 'bac', key: bacOnly.bacKey },
      trustAnchors: trust,
      accessPolicy: 'require-pace',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessControlError);
    expect((error as AccessControlError).step).toBe('policy');
    expect(chip.protocols.bac).toBe(0);
    expect(chip.stats.commands).toBe(1); // the SELECT of EF.CardAccess, nothing else
  });

  it('wrong CAN: PACE fails at the token step (6300) and never becomes BAC, even when BAC would open', async () => {
    const both = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'bac-and-pace' });
    const chip = new ChipEmulator(both);
    const error = await readCard(chip, {
      access: { kind: 'can', can: '000000', bacKey: both.bacKey },
      trustAnchors: trust,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessControlError);
    expect((error as AccessControlError).step).toBe('pace-tokens');
    expect((error as AccessControlError).statusWord).toBe(0x6300);
    expect(chip.protocols).toEqual({ pace: 0, bac: 0, chipAuthentication: 0 });
  });

  it('a CA key not in a hashed DG14: CA passes, but PA fails on DG14 and the chip is not authentic', async () => {
    const unhashed = buildChipImage({
      record: TRAN_THI_MAI,
      pki,
      dg14Unhashed: true,
      activeAuthentication: false,
    });
    const result = await readCard(new ChipEmulator(unhashed), {
      access: { kind: 'can', can },
      trustAnchors: trust,
    });
    expect(result.chip.status).toBe('passed');
    expect(result.passive.failures).toContainEqual(
      expect.objectContaining({ check: 'dg-hash', dataGroup: 14 }),
    );
    expect(result.authenticity).toMatchObject({ authentic: false, caBound: false });
    expect(result.authenticity.reasons).toContain('CA passed with a key not bound by a verified DG14');
  });

  it('a cloned chip with its own key pair: CA and AA pass, the PA binding fails, not authentic', async () => {
    const clone = cloneWithOwnKeys(paceOnly);
    const result = await readCard(new ChipEmulator(clone), {
      access: { kind: 'can', can },
      trustAnchors: trust,
      activeAuthentication: true,
    });
    expect(result.chip.status).toBe('passed');
    expect(result.active.status).toBe('passed');
    expect(result.passive.passed).toBe(false);
    expect(result.authenticity).toMatchObject({ authentic: false, caBound: false, aaBound: false });
  });

  it('a clone that copied DG14 but not the private key fails Chip Authentication', async () => {
    const copied: ChipImage = { ...paceOnly, caKey: newChipAuthenticationKey() };
    const error = await readCard(new ChipEmulator(copied), {
      access: { kind: 'can', can },
      trustAnchors: trust,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChipAuthError);
    expect((error as ChipAuthError).step).toBe('general-authenticate');
  });

  it('SELECT MF answers 6D00 as on the CCCD; EF.CardAccess is read by direct SELECT', async () => {
    const chip = new ChipEmulator(paceOnly);
    expect(Buffer.from(await chip.transmit(Buffer.from('00A4000C023F00', 'hex'))).toString('hex')).toBe(
      '6d00',
    );
    expect(Buffer.from(await chip.transmit(Buffer.from('00A4020C02011C', 'hex'))).toString('hex')).toBe(
      '9000',
    );
  });

  it('PACE-CAM: the chip proves its DG14 key inside PACE; no separate CA; a key copy without the secret fails', async () => {
    const cam = buildChipImage({
      record: TRAN_THI_MAI,
      pki,
      access: 'pace-only',
      paceMapping: 'cam',
      activeAuthentication: false,
    });
    const chip = new ChipEmulator(cam);
    const result = await readCard(chip, { access: { kind: 'can', can }, trustAnchors: trust });
    expect(result.chip).toEqual({ status: 'passed', detail: 'PACE-CAM' });
    expect(result.authenticity).toMatchObject({ authentic: true, caBound: true });
    expect(chip.protocols).toEqual({ pace: 1, bac: 0, chipAuthentication: 0 });

    const copied: ChipImage = { ...cam, caKey: newChipAuthenticationKey() };
    const forged = await readCard(new ChipEmulator(copied), {
      access: { kind: 'can', can },
      trustAnchors: trust,
    });
    expect(forged.chip.status).toBe('failed');
    expect(forged.authenticity.authentic).toBe(false);

    const clone = await readCard(new ChipEmulator(cloneWithOwnKeys(cam)), {
      access: { kind: 'can', can },
      trustAnchors: trust,
    });
    expect(clone.chip.status).toBe('passed');
    expect(clone.authenticity).toMatchObject({ authentic: false, caBound: false });
  });
});

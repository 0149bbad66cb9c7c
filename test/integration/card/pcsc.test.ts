import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControlError, CardTransportError, parseTrustList, readCard } from '../../../src/card/index.js';
import { dg13FromRecord } from '../../../src/cccd/record.js';
import { buildChipImage } from '../../../devices/card-reader/chip-image.js';
import { PcscCardReader } from '../../../devices/card-reader/driver.js';
import { ChipEmulator } from '../../../devices/card-reader/emulator.js';
import { createTestPki } from '../../../src/demo/test-pki.js';
import { VpcdCard } from '../../../devices/card-reader/vpcd.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { type PrivatePcscd, startPcscd } from '../../../src/demo/pcscd.js';

/**
 * Real pcscd (the rig's private one, socket-activated on its own socket) + vsmartcard's vpcd
 * driver; the chip emulator is the virtual card; pcsclite reads it.
 */
let pcscd: PrivatePcscd;
let reader: PcscCardReader;

function next<T>(register: (resolve: (value: T) => void) => void, what: string, ms = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${what} within ${ms} ms:\n${pcscd.output().slice(-3000)}`)),
      ms,
    );
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

beforeAll(async () => {
  pcscd = await startPcscd(join(mkdtempSync(join(tmpdir(), 'kiosk-pcsc-')), 'pcscd'));
  // pcsc-lite's client finds this pcscd through its own variable (read once per process)
  process.env.PCSCLITE_CSOCK_NAME = pcscd.socketPath;
  reader = new PcscCardReader();
}, 30_000);

afterAll(async () => {
  reader?.stop();
  await pcscd?.stop();
});

describe('PC/SC transport through pcscd and vpcd', () => {
  it('sees the reader, the card going in and out, and reads and verifies the card', async () => {
    const readerSeen = next<string>((resolve) => reader.once('reader', resolve), 'reader');
    await reader.start();
    const readerName = await readerSeen;
    expect(readerName).toMatch(/^Virtual PCD 00 00$/);

    const pki = createTestPki();
    const image = buildChipImage({ record: TRAN_THI_MAI, pki });
    const card = new VpcdCard(new ChipEmulator(image, { extendedLength: false }), pcscd.vpcdPort);
    const inserted = next<[string, Buffer]>(
      (resolve) => reader.once('card-inserted', (name, atr) => resolve([name, atr])),
      'card insert',
    );
    await card.insert();
    const [insertedIn, atr] = await inserted;
    expect(insertedIn).toBe(readerName);
    expect(atr.toString('hex').toUpperCase()).toBe('3B80800101');

    const transport = await reader.connect(readerName);
    const result = await readCard(transport, {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: parseTrustList(pki.trustListPem),
    });
    await transport.close();
    expect(result.mrz.lines).toEqual(image.mrzLines);
    expect(result.dg13).toEqual(dg13FromRecord(TRAN_THI_MAI));
    expect(result.passive.passed).toBe(true);
    expect(result.accessProtocol).toBe('pace');
    expect(result.chip.status).toBe('passed');
    expect(result.authenticity.authentic).toBe(true);
    expect(card.seen.apdus).toBeGreaterThan(10);

    const removed = next<string>((resolve) => reader.once('card-removed', resolve), 'card removal');
    await card.remove();
    expect(await removed).toBe(readerName);

    // Taken out mid-session: the next APDU fails as a transport error, not a hang or a crash.
    const again = next<string>(
      (resolve) => reader.once('card-inserted', (name) => resolve(name)),
      'second insert',
    );
    await card.insert();
    await again;
    const session = await reader.connect(readerName);
    const select = Buffer.from('00A4040C07A0000002471001', 'hex');
    expect(Buffer.from(await session.transmit(select)).toString('hex')).toBe('9000');
    const gone = next<string>((resolve) => reader.once('card-removed', resolve), 'second removal');
    await card.remove();
    await gone;
    await expect(session.transmit(select)).rejects.toBeInstanceOf(CardTransportError);
    await session.close();
  });
});

/** Inserts a card built from `image`, runs `read` on a PC/SC connection, takes the card out. */
async function withCard<T>(
  chip: ChipEmulator,
  read: (transport: Awaited<ReturnType<PcscCardReader['connect']>>) => Promise<T>,
): Promise<T> {
  const card = new VpcdCard(chip, pcscd.vpcdPort);
  const inserted = next<string>(
    (resolve) => reader.once('card-inserted', (name) => resolve(name)),
    'card insert',
  );
  await card.insert();
  const name = await inserted;
  const transport = await reader.connect(name);
  try {
    return await read(transport);
  } finally {
    await transport.close();
    const removed = next<string>((resolve) => reader.once('card-removed', resolve), 'card removal');
    await card.remove();
    await removed;
  }
}

describe('PACE, CA and the access policy through pcscd and vpcd', () => {
  const pki = createTestPki();
  const trustAnchors = parseTrustList(pki.trustListPem);
  const can = TRAN_THI_MAI.idNumber.slice(-6);

  it('reads a PACE-only chip with the CAN: PACE, CA, PA, DG1, DG2, DG13, DG14, DG15; authentic', async () => {
    const image = buildChipImage({
      record: TRAN_THI_MAI,
      pki,
      access: 'pace-only',
      activeAuthentication: 'ec',
    });
    const chip = new ChipEmulator(image, { extendedLength: false });
    const result = await withCard(chip, (transport) =>
      readCard(transport, { access: { kind: 'can', can }, trustAnchors, accessPolicy: 'require-pace' }),
    );
    expect(result.accessProtocol).toBe('pace');
    expect([...result.dataGroups.keys()].sort((a, b) => a - b)).toEqual([1, 2, 13, 14, 15]);
    expect(result.chip.status).toBe('passed');
    expect(result.passive.passed).toBe(true);
    expect(result.dg13).toEqual(dg13FromRecord(TRAN_THI_MAI));
    expect(result.authenticity).toMatchObject({ authentic: true, caBound: true });
    expect(chip.protocols).toEqual({ pace: 1, bac: 0, chipAuthentication: 1 });
  });

  it('reads a BAC-only chip with the MRZ key: BAC, CA, PA; authentic', async () => {
    const image = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'bac-only' });
    const chip = new ChipEmulator(image, { extendedLength: false });
    const result = await withCard(chip, (transport) =>
      readCard(transport, { access: { kind: 'can', can, bacKey: image.bacKey }, trustAnchors }),
    );
    expect(result.accessProtocol).toBe('bac');
    expect(result.chip.status).toBe('passed');
    expect(result.authenticity.authentic).toBe(true);
    expect(chip.protocols).toEqual({ pace: 0, bac: 1, chipAuthentication: 1 });
  });

  it('with require-pace, a failed PACE (wrong CAN) ends the read at its step and no BAC is attempted', async () => {
    const image = buildChipImage({ record: TRAN_THI_MAI, pki, access: 'bac-and-pace' });
    const chip = new ChipEmulator(image, { extendedLength: false });
    const error = await withCard(chip, (transport) =>
      readCard(transport, {
        access: { kind: 'can', can: '999999', bacKey: image.bacKey },
        trustAnchors,
        accessPolicy: 'require-pace',
      }).catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(AccessControlError);
    expect((error as AccessControlError).step).toBe('pace-tokens');
    expect(chip.protocols).toEqual({ pace: 0, bac: 0, chipAuthentication: 0 });
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CardTransportError, parseTrustList, readCard } from '../../../src/card/index.js';
import { dg13FromRecord } from '../../../src/cccd/record.js';
import { buildChipImage } from '../../../devices/card-reader/chip-image.js';
import { PtyCardTransport, PtyChipServer } from '../../../devices/card-reader/driver.js';
import { ChipEmulator } from '../../../devices/card-reader/emulator.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { createTestPki } from '../../../src/demo/test-pki.js';
import { type PtyPair, createPtyPair } from '../../../devices/transport/pty.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the chip emulator over a pty', () => {
  it('reads and verifies the card through the same CardTransport interface; unplug is a CardTransportError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiosk-card-pty-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const pair: PtyPair = await createPtyPair(join(dir, 'reader'), join(dir, 'chip'));
    cleanups.push(() => pair.close());
    const pki = createTestPki();
    const image = buildChipImage({ record: TRAN_THI_MAI, pki });
    const server = await PtyChipServer.open(
      pair.emulatorPath,
      new ChipEmulator(image, { extendedLength: true, maxReadLength: 1000 }),
    );
    cleanups.push(() => server.close());
    const transport = await PtyCardTransport.open(pair.devicePath, 5000);
    cleanups.push(() => transport.close());

    const result = await readCard(transport, {
      access: { kind: 'bac', key: image.bacKey },
      trustAnchors: parseTrustList(pki.trustListPem),
    });
    expect(result.mrz.lines).toEqual(image.mrzLines);
    expect(result.dg13).toEqual(dg13FromRecord(TRAN_THI_MAI));
    expect(result.passive.passed).toBe(true);
    expect(result.active.status).toBe('passed');

    await pair.close(); // the link goes away mid-session
    await expect(transport.transmit(Buffer.from('00A4040C07A0000002471001', 'hex'))).rejects.toBeInstanceOf(
      CardTransportError,
    );
  });
});

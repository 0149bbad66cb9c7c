import { beforeAll, describe, expect, it } from 'vitest';
import { performBac } from '../../../src/card/bac.js';
import { PlainChannel, SecureChannel } from '../../../src/card/channel.js';
import { CardFileError } from '../../../src/card/errors.js';
import { FileReader, LDS_FILES, selectApplication } from '../../../src/card/files.js';
import { SecureMessaging } from '../../../src/card/sm.js';
import { type ChipImage, buildChipImage, syntheticJpeg } from '../../../devices/card-reader/chip-image.js';
import { ChipEmulator, type ChipEmulatorOptions } from '../../../devices/card-reader/emulator.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { createTestPki } from '../../../src/demo/test-pki.js';

let image: ChipImage;
beforeAll(() => {
  image = buildChipImage({
    record: TRAN_THI_MAI,
    pki: createTestPki(),
    face: syntheticJpeg(5000),
    activeAuthentication: false,
  });
});

async function openReader(options: ChipEmulatorOptions) {
  const chip = new ChipEmulator(image, options);
  const plain = new PlainChannel(chip);
  await selectApplication(plain);
  const reader = new FileReader(
    new SecureChannel(chip, new SecureMessaging(await performBac(plain, image.bacKey))),
  );
  return { chip, reader };
}

describe('READ BINARY with the largest Le the chip allows (ISO 7816-4 §11.3.3)', () => {
  for (const options of [
    { extendedLength: false, maxReadLength: 0xdf },
    { extendedLength: true, maxReadLength: 1000 },
    { extendedLength: true, maxReadLength: 65536 },
    { extendedLength: true, maxReadLength: 5 },
  ]) {
    it(`reads whole files in the minimum READ BINARY count, plus at most one probe (${JSON.stringify(options)})`, async () => {
      const { chip, reader } = await openReader(options);
      let minimum = 0;
      for (const fid of [LDS_FILES.DG1, LDS_FILES.SOD, LDS_FILES.DG2]) {
        const expected = image.files.get(fid)!;
        expect((await reader.read('file', fid)).equals(expected)).toBe(true);
        minimum += Math.ceil(expected.length / Math.min(options.maxReadLength, 65536));
      }
      // a short-length chip costs one refused extended probe (6700) per session
      expect(chip.stats.readBinary).toBe(minimum + (options.extendedLength ? 0 : 1));
    });
  }

  it('names the file and status word when a file is absent', async () => {
    const { reader } = await openReader({});
    const error = await reader.read('DG11', LDS_FILES.DG11).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CardFileError);
    expect(error).toMatchObject({ file: 'DG11', step: 'select', statusWord: 0x6a82 });
  });
});

import { type ApduChannel, SW_SUCCESS } from './apdu.js';
import { CardFileError, LdsError } from './errors.js';
import { tlvHeaderLength } from './tlv.js';

/** eMRTD LDS1 application identifier (ICAO 9303 part 10 §3.10.1). */
export const EMRTD_AID = Buffer.from('A0000002471001', 'hex');

/** Short file identifiers of the LDS1 elementary files (ICAO 9303 part 10 §3.11, table 39). */
export const LDS_FILES = {
  COM: 0x011e,
  SOD: 0x011d,
  DG1: 0x0101,
  DG2: 0x0102,
  DG3: 0x0103,
  DG11: 0x010b,
  DG13: 0x010d,
  DG14: 0x010e,
  DG15: 0x010f,
} as const;
export type LdsFileName = keyof typeof LDS_FILES;

const SW_END_OF_FILE = 0x6282;
const SW_WRONG_LENGTH = 0x6700;
/** Largest READ BINARY offset with INS B0 (15-bit P1-P2; ISO 7816-4 §11.3.3). */
const MAX_B0_OFFSET = 0x7fff;
/** Largest plain Le under secure messaging that still fits a short response APDU (JMRTD uses 0xDF). */
export const SHORT_SM_LE = 0xdf;

export async function selectApplication(channel: ApduChannel, aid: Uint8Array = EMRTD_AID): Promise<void> {
  const answer = await channel.send({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x0c, data: aid });
  if (answer.sw !== SW_SUCCESS)
    throw new CardFileError('eMRTD application', 'select', 'not selected', answer.sw);
}

export async function selectFile(channel: ApduChannel, name: string, fid: number): Promise<void> {
  const answer = await channel.send({
    cla: 0x00,
    ins: 0xa4,
    p1: 0x02,
    p2: 0x0c,
    data: Buffer.from([fid >> 8, fid & 0xff]),
  });
  if (answer.sw !== SW_SUCCESS) throw new CardFileError(name, 'select', 'not selected', answer.sw);
}

/**
 * Reads transparent EFs with the largest Le the chip allows (ISO 7816-4 §11.3.3).
 * It first asks for `initialLe` (extended length by default); a chip that answers 6700 drops us
 * to short Le; a chip that answers with fewer bytes than asked (and not at end of file) has told
 * us its maximum, which is kept for the rest of the session. The first chunk's TLV header gives
 * the file length, so a file of N bytes costs ⌈N / maxLe⌉ READ BINARY commands.
 */
export class FileReader {
  private le: number;
  private learned = false;
  constructor(
    private readonly channel: ApduChannel,
    initialLe = 65536,
  ) {
    this.le = initialLe;
  }

  /** The Le this reader currently uses (the chip's maximum once learned). */
  get currentLe(): number {
    return this.le;
  }

  async read(name: string, fid: number): Promise<Buffer> {
    await selectFile(this.channel, name, fid);
    const chunks: Buffer[] = [];
    let offset = 0;
    let total: number | undefined;
    for (;;) {
      const want = total === undefined ? this.le : Math.min(this.le, total - offset);
      if (want <= 0) break;
      if (offset > MAX_B0_OFFSET)
        throw new CardFileError(name, 'read', `offset ${offset} beyond READ BINARY B0`);
      const answer = await this.channel.send({
        cla: 0x00,
        ins: 0xb0,
        p1: offset >> 8,
        p2: offset & 0xff,
        le: want,
      });
      if (answer.sw === SW_WRONG_LENGTH && this.le > SHORT_SM_LE && !this.learned) {
        this.le = SHORT_SM_LE;
        this.learned = true;
        continue;
      }
      if (answer.sw !== SW_SUCCESS && answer.sw !== SW_END_OF_FILE)
        throw new CardFileError(name, 'read', `READ BINARY at offset ${offset}`, answer.sw);
      if (answer.data.length === 0) {
        if (total === undefined || offset < total)
          throw new CardFileError(name, 'read', `no data at offset ${offset}`, answer.sw);
        break;
      }
      chunks.push(answer.data);
      offset += answer.data.length;
      if (total === undefined) {
        try {
          total = tlvHeaderLength(Buffer.concat(chunks), name).total;
        } catch (error) {
          // The header may straddle the first chunk only if the chip's Le is tiny; keep reading.
          if (!(error instanceof LdsError) || offset >= 8) throw error;
        }
      }
      if (answer.data.length < want && answer.sw === SW_SUCCESS && (total === undefined || offset < total)) {
        // A short read that is not the end of the file: this is the chip's maximum.
        this.le = answer.data.length;
        this.learned = true;
      }
      if (answer.sw === SW_END_OF_FILE || (total !== undefined && offset >= total)) break;
    }
    const file = Buffer.concat(chunks);
    if (total !== undefined && file.length < total)
      throw new LdsError(name, `file ends at ${file.length} bytes, its TLV says ${total}`);
    return total === undefined ? file : file.subarray(0, total);
  }
}

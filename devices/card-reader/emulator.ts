import { type CommandApdu, decodeCommand, encodeResponse } from '../../src/card/apdu.js';
import { signActiveAuthentication } from '../../src/card/aa.js';
import { type Rng, bacKeys, bacSessionKeys, secureRandom } from '../../src/card/bac.js';
import { retailMac, tdesDecrypt, tdesEncrypt } from '../../src/card/des.js';
import { CardError, CardTransportError } from '../../src/card/errors.js';
import { EMRTD_AID } from '../../src/card/files.js';
import { SecureMessaging } from '../../src/card/sm.js';
import { type CardTransport } from '../../src/card/transport.js';
import { type ChipImage } from './chip-image.js';

export interface ChipEmulatorOptions {
  /** most plain bytes one READ BINARY returns (the chip's buffer); fewer are returned, 9000 */
  maxReadLength?: number;
  /** whether the chip accepts extended-length APDUs (Le > 256); 6700 otherwise */
  extendedLength?: boolean;
  rng?: Rng;
  /** test faults: corrupt the MAC of the n-th protected response (1-based) */
  corruptResponseMac?: number;
}

/** Counters the bench and the tests read. */
export interface ChipStatistics {
  commands: number;
  readBinary: number;
  selectFile: number;
}

const sw = (value: number, data?: Uint8Array) => ({ sw: value, ...(data ? { data } : {}) });

/**
 * The chip's side of an eMRTD (ICAO 9303 parts 10 and 11): SELECT, GET CHALLENGE, MUTUAL
 * AUTHENTICATE, secure messaging, READ BINARY and INTERNAL AUTHENTICATE, computed with the card
 * layer's own code. Used in-process as a `CardTransport`, and behind the pty and vpcd servers.
 */
export class ChipEmulator implements CardTransport {
  readonly stats: ChipStatistics = { commands: 0, readBinary: 0, selectFile: 0 };
  private applicationSelected = false;
  private rndIc: Buffer | undefined;
  private sm: SecureMessaging | undefined;
  private selected: Buffer | undefined;
  private protectedResponses = 0;
  private closed = false;
  private readonly rng: Rng;
  private readonly keys;

  constructor(
    readonly image: ChipImage,
    private readonly options: ChipEmulatorOptions = {},
  ) {
    this.rng = options.rng ?? secureRandom;
    this.keys = bacKeys(image.bacKey);
  }

  /** Power-cycles the chip: all session state is lost. */
  reset(): void {
    this.applicationSelected = false;
    this.rndIc = undefined;
    this.sm = undefined;
    this.selected = undefined;
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new CardTransportError('the emulated card was removed');
    return this.process(command);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Answers one command APDU (synchronous; the servers call it directly). */
  process(bytes: Uint8Array): Buffer {
    this.stats.commands++;
    let command: CommandApdu;
    try {
      command = decodeCommand(bytes);
    } catch {
      return encodeResponse(sw(0x6700));
    }
    if ((command.cla & 0x0c) === 0x0c) {
      const sm = this.sm;
      if (!sm) return encodeResponse(sw(0x6882));
      let plain: CommandApdu;
      try {
        plain = sm.unwrapCommand(bytes);
      } catch (error) {
        // ICAO 9303 part 11 §9.8.6: an SM error ends the session, answered without SM.
        if (!(error instanceof CardError)) throw error;
        this.sm = undefined;
        return encodeResponse(sw(0x6988));
      }
      const answer = sm.wrapResponse(this.execute(plain, true));
      this.protectedResponses++;
      if (this.protectedResponses === this.options.corruptResponseMac) answer[answer.length - 3]! ^= 0x01;
      return answer;
    }
    // A plain command after SM was established aborts the session (§9.8.6).
    this.sm = undefined;
    return encodeResponse(this.execute(command, false));
  }

  private execute(c: CommandApdu, secured: boolean): { data?: Uint8Array; sw: number } {
    if (c.ins === 0xb0) this.stats.readBinary++;
    if ((c.le ?? 0) > 256 && this.options.extendedLength === false) return sw(0x6700);
    switch (c.ins) {
      case 0xa4:
        return this.select(c, secured);
      case 0x84:
        if (!this.applicationSelected) return sw(0x6985);
        if (c.le !== 8) return sw(0x6700);
        this.rndIc = this.rng(8);
        return sw(0x9000, this.rndIc);
      case 0x82:
        return this.mutualAuthenticate(c);
      case 0xb0:
        return this.readBinary(c, secured);
      case 0x88:
        return this.internalAuthenticate(c, secured);
      default:
        return sw(0x6d00);
    }
  }

  private select(c: CommandApdu, secured: boolean) {
    const data = Buffer.from(c.data ?? []);
    if (c.p1 === 0x04) {
      if (!data.equals(EMRTD_AID)) return sw(0x6a82);
      this.reset();
      this.applicationSelected = true;
      return sw(0x9000);
    }
    if (c.p1 === 0x02 && data.length === 2) {
      this.stats.selectFile++;
      if (!this.applicationSelected) return sw(0x6a82);
      if (!secured) return sw(0x6982);
      const file = this.image.files.get(data.readUInt16BE(0));
      if (!file) return sw(0x6a82);
      this.selected = file;
      return sw(0x9000);
    }
    return sw(0x6a86);
  }

  private mutualAuthenticate(c: CommandApdu) {
    const data = Buffer.from(c.data ?? []);
    const rndIc = this.rndIc;
    this.rndIc = undefined; // one challenge, one attempt
    if (!rndIc || data.length !== 40) return sw(0x6985);
    const { kEnc, kMac } = this.keys;
    const eIfd = data.subarray(0, 32);
    if (!retailMac(kMac, eIfd).equals(data.subarray(32))) return sw(0x6300);
    const s = tdesDecrypt(kEnc, eIfd);
    if (!s.subarray(8, 16).equals(rndIc)) return sw(0x6300);
    const rndIfd = s.subarray(0, 8);
    const kIfd = s.subarray(16, 32);
    const kIc = this.rng(16);
    const eIc = tdesEncrypt(kEnc, Buffer.concat([rndIc, rndIfd, kIc]));
    this.sm = new SecureMessaging(bacSessionKeys(kIfd, kIc, rndIc, rndIfd));
    return sw(0x9000, Buffer.concat([eIc, retailMac(kMac, eIc)]));
  }

  private readBinary(c: CommandApdu, secured: boolean) {
    if (!secured) return sw(0x6982);
    const file = this.selected;
    if (!file) return sw(0x6986);
    if (c.p1 & 0x80) return sw(0x6a86); // short EF identifier addressing is not offered
    const offset = (c.p1 << 8) | c.p2;
    if (offset > file.length) return sw(0x6b00);
    const want = c.le ?? 256;
    const limit = Math.min(want, this.options.maxReadLength ?? 0xdf);
    const chunk = file.subarray(offset, offset + limit);
    const endOfFile = offset + chunk.length === file.length;
    return sw(chunk.length < want && endOfFile ? 0x6282 : 0x9000, chunk);
  }

  private internalAuthenticate(c: CommandApdu, secured: boolean) {
    if (!secured) return sw(0x6982);
    const key = this.image.aaPrivateKey;
    if (!key) return sw(0x6d00);
    if (!c.data || c.data.length !== 8) return sw(0x6700);
    return sw(0x9000, signActiveAuthentication(key, c.data, this.rng, this.image.aaHash));
  }
}

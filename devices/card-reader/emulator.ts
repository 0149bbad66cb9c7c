import { EF_CARD_ACCESS } from '../../src/card/access.js';
import { type CommandApdu, decodeCommand, encodeResponse } from '../../src/card/apdu.js';
import { signActiveAuthentication } from '../../src/card/aa.js';
import { type Rng, bacKeys, bacSessionKeys, secureRandom } from '../../src/card/bac.js';
import { chipAuthenticationSessionKeys } from '../../src/card/ca.js';
import {
  type EcDomain,
  type Point,
  decodePoint,
  encodePoint,
  randomScalar,
  xCoordinate,
} from '../../src/card/curves.js';
import { retailMac, tdesDecrypt, tdesEncrypt } from '../../src/card/des.js';
import { CardError, CardTransportError } from '../../src/card/errors.js';
import { EMRTD_AID } from '../../src/card/files.js';
import { decodeOid } from '../../src/card/lds.js';
import {
  type PacePassword,
  authenticationToken,
  chipAuthenticationData,
  encodeDynamicAuthentication,
  encryptChipAuthenticationData,
  encryptNonce,
  mapGenerator,
  paceDomain,
  paceKey,
  paceSessionKeys,
  parseDynamicAuthentication,
} from '../../src/card/pace.js';
import {
  type ChipAuthenticationInfo,
  type PaceInfo,
  encodeSecurityInfos,
  parseCardAccess,
  parseSecurityInfos,
} from '../../src/card/security-infos.js';
import { SecureMessaging, macEquals } from '../../src/card/sm.js';
import { decodeTlvList, encodeTlv } from '../../src/card/tlv.js';
import { type CardTransport } from '../../src/card/transport.js';
import { type ChipImage } from './chip-image.js';

/** Where the chip is in a PACE run (ICAO 9303 part 11 §4.4.4): which GENERAL AUTHENTICATE it expects. */
type PaceState =
  | { step: 'nonce'; info: PaceInfo; domain: EcDomain; kPi: Buffer }
  | { step: 'map'; info: PaceInfo; domain: EcDomain; nonce: Buffer }
  | { step: 'agree'; info: PaceInfo; domain: EcDomain; generator: Point; mapSecret: bigint }
  | {
      step: 'tokens';
      info: PaceInfo;
      domain: EcDomain;
      /** kept for PACE-CAM: CA_IC = SK_map · SK_IC⁻¹ */
      mapSecret: bigint;
      ksEnc: Buffer;
      ksMac: Buffer;
      chipPublic: Buffer;
      terminalPublic: Buffer;
    };

export interface ChipEmulatorOptions {
  /** most plain bytes one READ BINARY returns (the chip's buffer); fewer are returned, 9000 */
  maxReadLength?: number;
  /** whether the chip accepts extended-length APDUs (Le > 256); 6700 otherwise */
  extendedLength?: boolean;
  rng?: Rng;
  /** test faults: corrupt the MAC of the n-th protected response (1-based) */
  corruptResponseMac?: number;
}

/** PACE and CA statistics beside the APDU counters. */
export interface ChipProtocolLog {
  pace: number;
  bac: number;
  chipAuthentication: number;
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
  /** completed access protocols since construction (tests check that no BAC followed a failed PACE) */
  readonly protocols: ChipProtocolLog = { pace: 0, bac: 0, chipAuthentication: 0 };
  private applicationSelected = false;
  private selectedCardAccess = false;
  private pace: PaceState | undefined;
  private caInfo: ChipAuthenticationInfo | undefined;
  /** SM that takes over after the current response is sent (end of PACE, CA re-keying) */
  private nextSm: SecureMessaging | undefined;
  private readonly paceInfos: PaceInfo[];
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
    const cardAccess = image.files.get(EF_CARD_ACCESS);
    this.paceInfos = cardAccess && image.access !== 'bac-only' ? parseCardAccess(cardAccess).pace : [];
  }

  /** Power-cycles the chip: all session state is lost. */
  reset(): void {
    this.applicationSelected = false;
    this.selectedCardAccess = false;
    this.rndIc = undefined;
    this.sm = undefined;
    this.nextSm = undefined;
    this.pace = undefined;
    this.caInfo = undefined;
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
      this.switchSm();
      return answer;
    }
    // A plain command after SM was established aborts the session (§9.8.6).
    this.sm = undefined;
    const answer = encodeResponse(this.execute(command, false));
    this.switchSm();
    return answer;
  }

  private switchSm(): void {
    if (!this.nextSm) return;
    this.sm = this.nextSm;
    this.nextSm = undefined;
  }

  private execute(c: CommandApdu, secured: boolean): { data?: Uint8Array; sw: number } {
    if (c.ins === 0xb0) this.stats.readBinary++;
    if ((c.le ?? 0) > 256 && this.options.extendedLength === false) return sw(0x6700);
    switch (c.ins) {
      case 0xa4:
        return this.select(c, secured);
      case 0x84:
        if (this.image.access === 'pace-only') return sw(0x6982);
        if (!this.applicationSelected) return sw(0x6985);
        if (c.le !== 8) return sw(0x6700);
        this.rndIc = this.rng(8);
        return sw(0x9000, this.rndIc);
      case 0x82:
        if (this.image.access === 'pace-only') return sw(0x6982);
        return this.mutualAuthenticate(c);
      case 0x22:
        return this.manageSecurityEnvironment(c, secured);
      case 0x86:
        return secured ? this.chipAuthenticate(c) : this.paceStep(c);
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
    // The CCCD answers SELECT MF with 6D00 (cccd-facts.md §4.1); EF.CardAccess is selected directly.
    if (c.p1 === 0x00) return sw(0x6d00);
    if (c.p1 === 0x04) {
      if (!data.equals(EMRTD_AID)) return sw(0x6a82);
      // Selecting the application under SM (after PACE) keeps the session; a plain one restarts.
      if (!secured) this.reset();
      this.applicationSelected = true;
      this.selected = undefined;
      return sw(0x9000);
    }
    if (c.p1 === 0x02 && data.length === 2) {
      this.stats.selectFile++;
      const fid = data.readUInt16BE(0);
      if (fid === EF_CARD_ACCESS) {
        const file = this.image.files.get(fid);
        if (!file || this.image.access === 'bac-only') return sw(0x6a82);
        this.selected = file;
        this.selectedCardAccess = true;
        return sw(0x9000);
      }
      this.selectedCardAccess = false;
      if (!this.applicationSelected) return sw(0x6a82);
      if (!secured) return sw(0x6982);
      const file = this.image.files.get(fid);
      if (!file) return sw(0x6a82);
      this.selected = file;
      return sw(0x9000);
    }
    return sw(0x6a86);
  }

  /** MSE:Set AT for PACE (C1 A4, plain) or for Chip Authentication (41 A4, under SM). */
  private manageSecurityEnvironment(c: CommandApdu, secured: boolean) {
    let objects: Map<number, Buffer>;
    try {
      objects = new Map(decodeTlvList(c.data ?? Buffer.alloc(0), 'MSE').map((t) => [t.tag, t.value]));
    } catch {
      return sw(0x6a80);
    }
    const oidBytes = objects.get(0x80);
    if (!oidBytes) return sw(0x6a80);
    let oid: string;
    try {
      oid = decodeOid(oidBytes, 'MSE');
    } catch {
      return sw(0x6a80);
    }
    if (c.p1 === 0xc1 && c.p2 === 0xa4 && !secured) return this.paceSetAt(oid, objects);
    if (c.p1 === 0x41 && c.p2 === 0xa4 && secured) {
      const key = this.image.caKey;
      if (!key || key.protocol !== oid) return sw(0x6a80);
      this.caInfo = parseSecurityInfos(
        encodeSecurityInfos([{ kind: 'ca', protocol: oid }]),
        'MSE',
      ).chipAuthentication[0];
      return sw(0x9000);
    }
    return sw(0x6a86);
  }

  private paceSetAt(oid: string, objects: Map<number, Buffer>) {
    this.pace = undefined;
    const parameterId = objects.get(0x84)?.[0];
    const info = this.paceInfos.find(
      (p) => p.protocol === oid && (parameterId === undefined || p.parameterId === parameterId),
    );
    const reference = objects.get(0x83);
    if (!info || !reference || reference.length !== 1) return sw(0x6a80);
    let password: PacePassword;
    if (reference[0] === 1) password = { kind: 'mrz', key: this.image.bacKey };
    else if (reference[0] === 2) password = { kind: 'can', can: this.image.can };
    else return sw(0x6a88); // PIN / PUK: not on this chip
    this.pace = { step: 'nonce', info, domain: paceDomain(info), kPi: paceKey(password, info) };
    return sw(0x9000);
  }

  /** One GENERAL AUTHENTICATE round of PACE; any failure ends the run (§4.4.4). */
  private paceStep(c: CommandApdu) {
    const state = this.pace;
    this.pace = undefined;
    if (!state) return sw(0x6985);
    let data: Map<number, Buffer>;
    try {
      data = parseDynamicAuthentication(c.data ?? Buffer.alloc(0), 'pace-nonce');
    } catch {
      return sw(0x6a80);
    }
    const lastRound = state.step === 'tokens';
    if (((c.cla & 0x10) === 0) !== lastRound) return sw(0x6883); // chaining expected until the last
    try {
      return this.paceRound(state, data);
    } catch (error) {
      if (error instanceof CardError) return sw(0x6a80);
      throw error;
    }
  }

  private paceRound(state: PaceState, data: Map<number, Buffer>) {
    switch (state.step) {
      case 'nonce': {
        const nonce = this.rng(16);
        this.pace = { step: 'map', info: state.info, domain: state.domain, nonce };
        return sw(0x9000, encodeDynamicAuthentication(0x80, encryptNonce(state.kPi, nonce, state.info)));
      }
      case 'map': {
        const terminal = decodePoint(state.domain, data.get(0x81) ?? Buffer.alloc(0), 'PACE mapping');
        const secret = randomScalar(state.domain, this.rng);
        const generator = mapGenerator(state.domain, state.nonce, terminal.multiply(secret));
        this.pace = { step: 'agree', info: state.info, domain: state.domain, generator, mapSecret: secret };
        return sw(
          0x9000,
          encodeDynamicAuthentication(0x82, encodePoint(state.domain.Point.BASE.multiply(secret))),
        );
      }
      case 'agree': {
        const terminalPublic = data.get(0x83) ?? Buffer.alloc(0);
        const terminal = decodePoint(state.domain, terminalPublic, 'PACE key agreement');
        const secret = randomScalar(state.domain, this.rng);
        const chipPublic = encodePoint(state.generator.multiply(secret));
        if (chipPublic.equals(terminalPublic)) return sw(0x6a80);
        const keys = paceSessionKeys(xCoordinate(state.domain, terminal.multiply(secret)), state.info);
        this.pace = {
          step: 'tokens',
          info: state.info,
          domain: state.domain,
          ...keys,
          chipPublic,
          terminalPublic: Buffer.from(terminalPublic),
          mapSecret: state.mapSecret,
        };
        return sw(0x9000, encodeDynamicAuthentication(0x84, chipPublic));
      }
      case 'tokens': {
        const { info, ksEnc, ksMac } = state;
        const expected = authenticationToken(ksMac, info, info.protocol, state.chipPublic);
        if (!macEquals(expected, data.get(0x85) ?? Buffer.alloc(0))) return sw(0x6300); // wrong password
        this.nextSm = new SecureMessaging({ ksEnc, ksMac, ssc: 0n, cipher: info.cipher });
        this.protocols.pace++;
        const token = encodeTlv(0x86, authenticationToken(ksMac, info, info.protocol, state.terminalPublic));
        // PACE-CAM: A_IC = E(KSenc, CA_IC), CA_IC = SK_map · SK_IC⁻¹ (part 11 §4.4.3.5.2)
        const cam =
          info.mapping === 'cam' && this.image.caKey
            ? encodeTlv(
                0x8a,
                encryptChipAuthenticationData(
                  ksEnc,
                  chipAuthenticationData(state.domain, state.mapSecret, this.image.caKey.secret),
                ),
              )
            : Buffer.alloc(0);
        return sw(0x9000, encodeTlv(0x7c, token, cam));
      }
    }
  }

  /** GENERAL AUTHENTICATE of Chip Authentication: ECDH with the DG14 key, then new SM keys (§6.2). */
  private chipAuthenticate(c: CommandApdu) {
    const info = this.caInfo;
    const key = this.image.caKey;
    this.caInfo = undefined;
    if (!info || !key) return sw(0x6985);
    let terminal: Point;
    try {
      const data = parseDynamicAuthentication(c.data ?? Buffer.alloc(0), 'pace-nonce');
      terminal = decodePoint(key.domain, data.get(0x80) ?? Buffer.alloc(0), 'CA ephemeral key');
    } catch {
      return sw(0x6a80);
    }
    this.nextSm = new SecureMessaging(
      chipAuthenticationSessionKeys(xCoordinate(key.domain, terminal.multiply(key.secret)), info),
    );
    this.protocols.chipAuthentication++;
    return sw(0x9000, encodeDynamicAuthentication());
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
    this.nextSm = new SecureMessaging(bacSessionKeys(kIfd, kIc, rndIc, rndIfd));
    this.protocols.bac++;
    return sw(0x9000, Buffer.concat([eIc, retailMac(kMac, eIc)]));
  }

  private readBinary(c: CommandApdu, secured: boolean) {
    // EF.CardAccess is readable without access control (part 10 §3.11.3); nothing else is.
    if (!secured && !this.selectedCardAccess) return sw(0x6982);
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

import { type X509Certificate } from 'node:crypto';
import { type AaVerdict, performActiveAuthentication } from './aa.js';
import { type AccessPolicy, type AccessResult, type CardAccess, openSecureSession } from './access.js';
import { verifyChipAuthenticationMapping } from './pace.js';
import { type Authenticity, type CaVerdict, assessAuthenticity } from './authenticity.js';
import { type Rng, secureRandom } from './bac.js';
import { chipAuthenticationKey, performChipAuthentication } from './ca.js';
import { SecureChannel } from './channel.js';
import { CardFileError, ChipAuthError, LdsError, SecureMessagingError } from './errors.js';
import { FileReader, LDS_FILES, selectApplication } from './files.js';
import {
  type Dg13,
  type EfCom,
  type FaceImage,
  parseDg1,
  parseDg13,
  parseDg14,
  parseDg15,
  parseDg2,
  parseEfCom,
} from './lds.js';
import { type Mrz } from './mrz.js';
import { type PaVerdict, verifyPassiveAuthentication } from './pa.js';
import { parseDg14SecurityInfos } from './security-infos.js';
import { SecureMessaging } from './sm.js';
import { type HashName } from './sod.js';
import { type CardTransport } from './transport.js';
import { type TrustList } from './trust-list.js';
import { type Logger } from '../util/log.js';

export type { CardAccess, AccessPolicy } from './access.js';

export interface ReadCardOptions {
  access: CardAccess;
  /** 'require-pace' refuses chips without PACE (default 'prefer-pace'); BAC never follows a failed PACE */
  accessPolicy?: AccessPolicy;
  /** CSCA certificates operations trust (PEM bundle parsed with `parseTrustList`) */
  trustAnchors: readonly X509Certificate[];
  /** imported master lists and CRLs; its CSCAs join `trustAnchors`, its CRLs revoke */
  trustList?: TrustList;
  /**
   * The data groups the caller needs. Given, they are read straight away and EF.COM is not read:
   * it is unsigned and tells nothing a SELECT does not (an absent group answers 6A82), and the
   * SOD's signed hash list is what passive authentication judges. Not given: EF.COM is read and
   * the default groups it lists are read. DG3 needs EAC and is never read.
   */
  dataGroups?: readonly number[];
  /** Chip Authentication when DG14 offers it (default true) */
  chipAuthentication?: boolean;
  /** Active Authentication: true = always, false = never, default = when CA did not pass */
  activeAuthentication?: boolean;
  rng?: Rng;
  now?: Date;
  /** first Le tried by READ BINARY (default: what EF.CardAccess's read learned, else extended; adapts to the chip) */
  initialLe?: number;
  /** steps, file lengths and verdicts only: never MRZ, keys or file contents (STYLE.md practice 13) */
  log?: Logger;
}

export interface CardReadResult {
  /** how secure messaging was opened */
  accessProtocol: 'pace' | 'bac';
  /** EF.COM, read only when the caller named no data groups */
  com?: EfCom;
  /** raw bytes of every data group read, by number (what passive authentication hashed) */
  dataGroups: Map<number, Buffer>;
  sod: Buffer;
  mrz: Mrz;
  face?: FaceImage;
  dg13?: Dg13;
  passive: PaVerdict;
  chip: CaVerdict;
  active: AaVerdict;
  /** PA ∧ (CA ∨ AA) with the DG14/DG15 binding: what the pickup dispenses on */
  authenticity: Authenticity;
}

/** What a read without named data groups reads, when EF.COM lists them. */
const DEFAULT_DATA_GROUPS: readonly number[] = [1, 2, 13, 14, 15];

const FILE_IDS: Readonly<Record<number, number>> = {
  1: LDS_FILES.DG1,
  2: LDS_FILES.DG2,
  11: LDS_FILES.DG11,
  13: LDS_FILES.DG13,
  14: LDS_FILES.DG14,
  15: LDS_FILES.DG15,
};

/** A listed group the chip will not show us (6A82 / 6982) is reported by its absence. */
async function readOptional(reader: FileReader, dg: number): Promise<Buffer | undefined> {
  try {
    return await reader.read(`DG${dg}`, FILE_IDS[dg]!);
  } catch (error) {
    if (error instanceof CardFileError && error.step === 'select' && dg !== 1) {
      // 6987/6988: the chip dropped secure messaging; that is no missing file.
      if (error.statusWord === 0x6987 || error.statusWord === 0x6988) throw error;
      return undefined;
    }
    throw error;
  }
}

/**
 * Runs CA with the DG14 key and re-keys the channel. The verdict comes with the next protected
 * exchange: a chip without the private key cannot answer under the new keys.
 */
async function chipAuthenticate(
  channel: SecureChannel,
  dg14: Buffer | undefined,
  rng: Rng,
): Promise<CaVerdict> {
  if (!dg14) return { status: 'not-supported', detail: 'no DG14' };
  const key = dg14ChipAuthenticationKey(dg14);
  if (!key) return { status: 'not-supported', detail: 'DG14 offers no ECDH Chip Authentication key' };
  const keys = await performChipAuthentication(channel, key, rng);
  channel.rekey(new SecureMessaging(keys));
  return { status: 'passed' };
}

/** The Chip Authentication key DG14 offers, if any; a DG14 that does not parse fails the CA step. */
function dg14ChipAuthenticationKey(dg14: Buffer): ReturnType<typeof chipAuthenticationKey> {
  try {
    return chipAuthenticationKey(parseDg14SecurityInfos(dg14));
  } catch (error) {
    if (error instanceof LdsError) throw new ChipAuthError('key', error.message);
    throw error;
  }
}

/** PACE-CAM: the chip's mapping key must be CA_IC times its DG14 key (part 11 §4.4.3.5.2). */
function verifyCam(cam: NonNullable<AccessResult['cam']>, dg14: Buffer | undefined): CaVerdict {
  if (!dg14) return { status: 'failed', detail: 'PACE-CAM without a DG14 to check it against' };
  const key = dg14ChipAuthenticationKey(dg14);
  if (!key) return { status: 'failed', detail: 'PACE-CAM, but DG14 has no Chip Authentication key' };
  return verifyChipAuthenticationMapping(
    key.domain,
    cam.chipMapPublicKey,
    cam.chipAuthenticationData,
    key.publicPoint,
  )
    ? { status: 'passed', detail: 'PACE-CAM' }
    : { status: 'failed', detail: 'PACE-CAM data does not match the DG14 key' };
}

/** Reads the rest; an SM break right after CA is the CA failure it is, not a file error. */
async function readAfterCa(ca: CaVerdict, read: () => Promise<void>): Promise<void> {
  try {
    await read();
  } catch (error) {
    const smBroke =
      error instanceof SecureMessagingError ||
      (error instanceof CardFileError && (error.statusWord === 0x6987 || error.statusWord === 0x6988));
    if (ca.status === 'passed' && smBroke)
      throw new ChipAuthError(
        'general-authenticate',
        'the chip could not continue under the CA keys: it does not hold the DG14 private key',
      );
    throw error;
  }
}

/**
 * Reads and verifies an eMRTD: PACE (or BAC by policy), EF.COM (only when no data groups are
 * named), DG14 and Chip Authentication,
 * the other data groups and EF.SOD under the CA keys, passive authentication, Active
 * Authentication when CA did not pass, and the bound authenticity verdict.
 * Throws the layer's error class on a failed step; authentication failures are verdicts.
 */
export async function readCard(transport: CardTransport, options: ReadCardOptions): Promise<CardReadResult> {
  const rng = options.rng ?? secureRandom;
  const opened = await openSecureSession(
    transport,
    options.access,
    options.accessPolicy ?? 'prefer-pace',
    rng,
  );
  options.log?.debug(
    { step: 'access', method: opened.protocol, protocol: opened.paceProtocol },
    'card: secure messaging established',
  );
  const channel = new SecureChannel(transport, new SecureMessaging(opened.session));
  if (opened.protocol === 'pace') await selectApplication(channel);
  const reader = new FileReader(channel, options.initialLe ?? opened.readLe);
  const com = options.dataGroups ? undefined : parseEfCom(await reader.read('EF.COM', LDS_FILES.COM));
  const wanted = com
    ? DEFAULT_DATA_GROUPS.filter((dg) => com.dataGroups.includes(dg))
    : [...new Set(options.dataGroups)];
  const dataGroups = new Map<number, Buffer>();
  const caWanted = options.chipAuthentication !== false && wanted.includes(14);
  let chip: CaVerdict = { status: 'not-supported', detail: caWanted ? 'no DG14' : 'not requested' };
  if (caWanted) {
    const dg14 = await readOptional(reader, 14);
    if (dg14) dataGroups.set(14, dg14);
    chip = opened.cam ? verifyCam(opened.cam, dg14) : await chipAuthenticate(channel, dg14, rng);
  }
  let sod: Buffer = Buffer.alloc(0);
  await readAfterCa(chip, async () => {
    for (const dg of wanted) {
      if (FILE_IDS[dg] === undefined || dataGroups.has(dg)) continue;
      const bytes = await readOptional(reader, dg);
      if (bytes) dataGroups.set(dg, bytes);
    }
    if (!dataGroups.has(1))
      throw new CardFileError('DG1', 'read', com ? 'EF.COM does not list DG1' : 'DG1 was not asked for');
    sod = await reader.read('EF.SOD', LDS_FILES.SOD);
  });
  options.log?.debug(
    {
      step: 'read',
      le: reader.currentLe,
      lengths: Object.fromEntries([...dataGroups].map(([n, b]) => [`DG${n}`, b.length])),
      sod: sod.length,
    },
    'card: files read',
  );
  const passive = verifyPassiveAuthentication({
    sod,
    dataGroups,
    trustAnchors: options.trustAnchors,
    ...(options.trustList ? { trustList: options.trustList } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const dg15 = dataGroups.get(15);
  const aaWanted = options.activeAuthentication ?? chip.status !== 'passed';
  const active: AaVerdict =
    dg15 && aaWanted
      ? await performActiveAuthentication(channel, parseDg15(dg15), rng, dg14Hash(dataGroups.get(14)))
      : { status: 'not-supported', detail: dg15 ? 'not requested' : 'no DG15' };
  const authenticity = assessAuthenticity(passive, chip, active);
  options.log?.info(
    {
      access: opened.protocol,
      passive: passive.passed,
      failedChecks: passive.failures.map((f) => f.check),
      chip: chip.status,
      active: active.status,
      authentic: authenticity.authentic,
    },
    'card: verified',
  );
  const dg2 = dataGroups.get(2);
  const dg13 = dataGroups.get(13);
  return {
    accessProtocol: opened.protocol,
    ...(com ? { com } : {}),
    dataGroups,
    sod,
    mrz: parseDg1(dataGroups.get(1)!).mrz,
    ...(dg2 ? { face: parseDg2(dg2) } : {}),
    ...(dg13 ? { dg13: parseDg13(dg13) } : {}),
    passive,
    chip,
    active,
    authenticity,
  };
}

/** ECDSA AA hashes with the algorithm DG14 names (ICAO 9303 part 11 §6.1); SHA-256 when it names none. */
function dg14Hash(dg14: Buffer | undefined): HashName {
  return (dg14 ? parseDg14(dg14).activeAuthenticationHash : undefined) ?? 'sha256';
}

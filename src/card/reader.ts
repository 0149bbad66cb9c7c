import { type X509Certificate } from 'node:crypto';
import { type AaVerdict, performActiveAuthentication } from './aa.js';
import { type BacKey, type Rng, performBac, secureRandom } from './bac.js';
import { PlainChannel, SecureChannel } from './channel.js';
import { CardFileError } from './errors.js';
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
import { type HashName } from './sod.js';
import { type Mrz } from './mrz.js';
import { type PaVerdict, verifyPassiveAuthentication } from './pa.js';
import { SecureMessaging } from './sm.js';
import { type CardTransport } from './transport.js';
import { type Logger } from '../util/log.js';

/** How to open the chip. BAC today; PACE (CAN = last 6 ID digits) will add `{ kind: 'pace' }`. */
export type CardAccess = { kind: 'bac'; key: BacKey };

export interface ReadCardOptions {
  access: CardAccess;
  /** CSCA certificates operations trust (PEM bundle parsed with `parseTrustList`) */
  trustAnchors: readonly X509Certificate[];
  /** data groups to read when EF.COM lists them; DG3 needs EAC and is never read */
  dataGroups?: readonly number[];
  activeAuthentication?: boolean;
  rng?: Rng;
  now?: Date;
  /** first Le tried by READ BINARY (extended length by default; adapts to the chip) */
  initialLe?: number;
  /** steps, file lengths and verdicts only: never MRZ, keys or file contents (STYLE.md practice 13) */
  log?: Logger;
}

export interface CardReadResult {
  com: EfCom;
  /** raw bytes of every data group read, by number (what passive authentication hashed) */
  dataGroups: Map<number, Buffer>;
  sod: Buffer;
  mrz: Mrz;
  face?: FaceImage;
  dg13?: Dg13;
  passive: PaVerdict;
  active: AaVerdict;
}

const FILE_IDS: Readonly<Record<number, number>> = {
  1: LDS_FILES.DG1,
  2: LDS_FILES.DG2,
  11: LDS_FILES.DG11,
  13: LDS_FILES.DG13,
  14: LDS_FILES.DG14,
  15: LDS_FILES.DG15,
};

/**
 * Reads and verifies an eMRTD: select the application, BAC, then under secure messaging EF.COM,
 * EF.SOD and the data groups, passive authentication, and Active Authentication when DG15 is there.
 * Throws the layer's error class on a failed step; authentication failures are verdicts.
 */
export async function readCard(transport: CardTransport, options: ReadCardOptions): Promise<CardReadResult> {
  const rng = options.rng ?? secureRandom;
  const plain = new PlainChannel(transport);
  await selectApplication(plain);
  const session = await performBac(plain, options.access.key, rng);
  options.log?.debug({ step: 'access', method: options.access.kind }, 'card: secure messaging established');
  const channel = new SecureChannel(transport, new SecureMessaging(session));
  const reader = new FileReader(channel, options.initialLe);
  const com = parseEfCom(await reader.read('EF.COM', LDS_FILES.COM));
  const wanted = options.dataGroups ?? [1, 2, 13, 14, 15];
  const dataGroups = new Map<number, Buffer>();
  for (const dg of com.dataGroups) {
    const fid = FILE_IDS[dg];
    if (!wanted.includes(dg) || fid === undefined) continue;
    try {
      dataGroups.set(dg, await reader.read(`DG${dg}`, fid));
    } catch (error) {
      // A listed group the chip will not show us (6A82 / 6982) is reported by its absence.
      if (error instanceof CardFileError && error.step === 'select' && dg !== 1) continue;
      throw error;
    }
  }
  const dg1 = dataGroups.get(1);
  if (!dg1) throw new CardFileError('DG1', 'read', 'EF.COM does not list DG1');
  const sod = await reader.read('EF.SOD', LDS_FILES.SOD);
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
    now: options.now,
  });
  const dg15 = dataGroups.get(15);
  const active: AaVerdict =
    dg15 && options.activeAuthentication !== false
      ? await performActiveAuthentication(channel, parseDg15(dg15), rng, dg14Hash(dataGroups.get(14)))
      : { status: 'not-supported', detail: dg15 ? 'not requested' : 'no DG15' };
  options.log?.info(
    { passive: passive.passed, failedChecks: passive.failures.map((f) => f.check), active: active.status },
    'card: verified',
  );
  const dg2 = dataGroups.get(2);
  const dg13 = dataGroups.get(13);
  return {
    com,
    dataGroups,
    sod,
    mrz: parseDg1(dg1).mrz,
    ...(dg2 ? { face: parseDg2(dg2) } : {}),
    ...(dg13 ? { dg13: parseDg13(dg13) } : {}),
    passive,
    active,
  };
}

/** ECDSA AA hashes with the algorithm DG14 names (ICAO 9303 part 11 §6.1); SHA-256 when it names none. */
function dg14Hash(dg14: Buffer | undefined): HashName {
  return (dg14 ? parseDg14(dg14).activeAuthenticationHash : undefined) ?? 'sha256';
}

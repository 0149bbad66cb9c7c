import { type ApduChannel } from './apdu.js';
import { type BacKey, type Rng, performBac, secureRandom } from './bac.js';
import { PlainChannel } from './channel.js';
import { domainForParameterId } from './curves.js';
import { AccessControlError, CardFileError, LdsError } from './errors.js';
import { FileReader, selectApplication } from './files.js';
import { type PacePassword, type PaceResult, performPace } from './pace.js';
import { type PaceInfo, type SecurityInfos, parseCardAccess } from './security-infos.js';
import { type SessionKeys } from './sm.js';
import { type CardTransport } from './transport.js';

/**
 * Which password the kiosk holds for a chip.
 * - `bac`: the MRZ key. PACE with the MRZ password when EF.CardAccess offers PACE, BAC otherwise.
 * - `can`: the CAN (on CCCD the last six digits of the ID number). PACE with the CAN; BAC with
 *   `bacKey` only on a chip whose EF.CardAccess offers no PACE.
 */
export type CardAccess = { kind: 'bac'; key: BacKey } | { kind: 'can'; can: string; bacKey?: BacKey };

/** `require-pace` refuses chips without PACE; neither policy turns a failed PACE into BAC. */
export type AccessPolicy = 'prefer-pace' | 'require-pace';

export const EF_CARD_ACCESS = 0x011c;
/** READ BINARY's largest Le (extended length), what a read asks first. */
const EXTENDED_LE = 65536;
/** SELECT answers that mean "no EF.CardAccess here" (file not found, or no such SELECT). */
const NO_CARD_ACCESS = new Set([0x6a82, 0x6a86, 0x6d00, 0x6985]);

/**
 * Reads EF.CardAccess by selecting it directly from the MF (part 10 §3.11.3). SELECT MF answers
 * 6D00 on the CCCD, so the EF is selected by FID without it. Returns undefined when the chip has
 * none (a BAC chip); a file that is there but malformed is an error, never "no PACE".
 *
 * It asks with an extended Le: a chip without extended length answers 6700 here, in plain,
 * and `readLe` carries what was learned into the secure-messaging reads, which then need no
 * probe of their own (an extended APDU a chip cannot parse under SM could also leave the two
 * send sequence counters apart).
 */
export async function readCardAccess(
  channel: ApduChannel,
): Promise<{ raw: Buffer; infos: SecurityInfos; readLe: number } | undefined> {
  let raw: Buffer;
  const reader = new FileReader(channel, EXTENDED_LE);
  try {
    raw = await reader.read('EF.CardAccess', EF_CARD_ACCESS);
  } catch (error) {
    if (
      error instanceof CardFileError &&
      error.step === 'select' &&
      NO_CARD_ACCESS.has(error.statusWord ?? 0)
    )
      return undefined;
    if (error instanceof CardFileError || error instanceof LdsError)
      throw new AccessControlError(
        'pace-card-access',
        error.message,
        error instanceof CardFileError ? error.statusWord : undefined,
      );
    throw error;
  }
  try {
    return { raw, infos: parseCardAccess(raw), readLe: reader.currentLe };
  } catch (error) {
    if (error instanceof LdsError) throw new AccessControlError('pace-card-access', error.message);
    throw error;
  }
}

/** The PACEInfo this terminal runs: ECDH, GM (or CAM), a standardized curve; AES before 3DES. */
export function choosePace(infos: SecurityInfos): PaceInfo | undefined {
  const usable = infos.pace.filter(
    (p) =>
      p.agreement === 'ecdh' &&
      (p.mapping === 'gm' || p.mapping === 'cam') &&
      p.parameterId !== undefined &&
      domainForParameterId(p.parameterId) !== undefined,
  );
  // CAM proves the chip key inside PACE (two APDUs fewer than CA); AES before 3DES.
  return (
    usable.find((p) => p.mapping === 'cam' && p.cipher === 'aes') ??
    usable.find((p) => p.cipher === 'aes') ??
    usable[0]
  );
}

export interface AccessResult {
  session: SessionKeys;
  protocol: 'pace' | 'bac';
  /** the PACE OID used (for logs and the read record) */
  paceProtocol?: string;
  /** PACE-CAM's proof, to check against the DG14 key once DG14 is read */
  cam?: PaceResult['cam'];
  cardAccess?: SecurityInfos;
  /** the Le EF.CardAccess's read ended with (short once the chip refused extended length) */
  readLe?: number;
}

/**
 * Opens secure messaging by policy: PACE when EF.CardAccess offers a PACE this terminal runs,
 * BAC only when it offers none (and the policy allows it). A PACE failure is thrown as is: the
 * caller sees the PACE step that failed, and BAC is never tried after it.
 * After BAC the eMRTD application is selected; after PACE the caller selects it under SM.
 */
export async function openSecureSession(
  transport: CardTransport,
  access: CardAccess,
  policy: AccessPolicy,
  rng: Rng = secureRandom,
): Promise<AccessResult> {
  const plain = new PlainChannel(transport);
  const cardAccess = await readCardAccess(plain);
  const pace = cardAccess && choosePace(cardAccess.infos);
  if (pace) {
    const password: PacePassword =
      access.kind === 'can' ? { kind: 'can', can: access.can } : { kind: 'mrz', key: access.key };
    const result = await performPace(plain, pace, password, {
      rng,
      withParameterId: cardAccess.infos.pace.length > 1,
    });
    return {
      ...(result.cam ? { cam: result.cam } : {}),
      session: result.session,
      protocol: 'pace',
      paceProtocol: pace.protocol,
      cardAccess: cardAccess.infos,
      readLe: cardAccess.readLe,
    };
  }
  if (policy === 'require-pace')
    throw new AccessControlError(
      'policy',
      cardAccess ? 'EF.CardAccess offers no PACE this kiosk runs' : 'the chip has no EF.CardAccess (no PACE)',
    );
  const bacKey = access.kind === 'bac' ? access.key : access.bacKey;
  if (!bacKey)
    throw new AccessControlError('policy', 'the chip offers no PACE and no MRZ key was given for BAC');
  await selectApplication(plain);
  const session = await performBac(plain, bacKey, rng);
  return {
    session,
    protocol: 'bac',
    ...(cardAccess ? { cardAccess: cardAccess.infos, readLe: cardAccess.readLe } : {}),
  };
}

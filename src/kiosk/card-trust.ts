import { type X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TrustListError } from '../card/errors.js';
import { parseTrustList } from '../card/pa.js';
import { EMPTY_TRUST_LIST, type TrustList, buildTrustList } from '../card/trust-list.js';
import { type KioskConfig } from '../config/schema.js';
import { type Logger } from '../util/log.js';

export interface CardTrust {
  /** the CSCAs of `sessions.trustList`: trusted, and the only signers' issuers a master list may have */
  trustAnchors: X509Certificate[];
  /** master lists and CRLs from `card` (pushed as signed configuration), verified */
  trustList: TrustList;
}

/**
 * The kiosk's trust list from its (possibly pushed) configuration. A master list or CRL that does
 * not verify throws `TrustListError`: a kiosk never runs with a trust list it could not check.
 */
export function loadCardTrust(config: KioskConfig, now: Date = new Date()): CardTrust {
  const trustAnchors = config.sessions.trustList
    ? parseTrustList(readFileSync(config.sessions.trustList, 'utf8'))
    : [];
  const trustList = buildTrustList({
    masterLists: config.card.masterLists.map((b64) => Buffer.from(b64, 'base64')),
    crls: config.card.crls.map((b64) => Buffer.from(b64, 'base64')),
    signerAnchors: trustAnchors,
    now,
  });
  return { trustAnchors, trustList };
}

/**
 * For the runtime: a master list or CRL that does not verify must not stop the kiosk, nor be
 * skipped (a skipped CRL would un-revoke). The kiosk then trusts nothing, so every passive
 * authentication fails and pickups are refused until operations push a list that verifies.
 */
export function loadCardTrustFailClosed(config: KioskConfig, log: Logger): CardTrust {
  try {
    return loadCardTrust(config);
  } catch (error) {
    if (!(error instanceof TrustListError)) throw error;
    log.error(
      { check: error.check },
      'card: the trust list does not verify; no CSCA is trusted until it does',
    );
    return { trustAnchors: [], trustList: EMPTY_TRUST_LIST };
  }
}

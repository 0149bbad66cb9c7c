/**
 * One error class per layer of the card stack (STYLE.md practices 3 and 10). Callers tell
 * failures apart by class and by the `step` / `check` / `statusWord` fields, never by text.
 * Messages carry steps, lengths and status words only: no MRZ, keys or data-group bytes.
 */
export abstract class CardError extends Error {
  abstract readonly layer:
    'transport' | 'apdu' | 'sm' | 'access' | 'files' | 'lds' | 'aa' | 'ca' | 'pa' | 'trust';
}

/** The reader or the link to the chip failed (card removed, pty closed, PC/SC error). */
export class CardTransportError extends CardError {
  override readonly name = 'CardTransportError';
  readonly layer = 'transport';
}

/** A response APDU is malformed, or the chip answered a step with an error status word. */
export class ApduError extends CardError {
  override readonly name = 'ApduError';
  readonly layer = 'apdu';
  constructor(
    message: string,
    readonly step: string,
    readonly statusWord?: number,
  ) {
    super(statusWord === undefined ? `${step}: ${message}` : `${step}: ${message} (SW ${swHex(statusWord)})`);
  }
}

/** Which secure-messaging check failed (ICAO 9303 part 11 §9.8). */
export type SmCheck =
  'mac' | 'missing-mac' | 'missing-status' | 'status-mismatch' | 'padding' | 'structure' | 'length';

/** Secure messaging refused a response (or, chip-side, a command). The MAC check is never optional. */
export class SecureMessagingError extends CardError {
  override readonly name = 'SecureMessagingError';
  readonly layer = 'sm';
  constructor(
    readonly check: SmCheck,
    message: string,
  ) {
    super(`secure messaging ${check}: ${message}`);
  }
}

/**
 * The step where access control stopped. BAC: get-challenge … verify-chip-cryptogram. PACE
 * (part 11 §4.4.4): the EF.CardAccess read, MSE:Set AT, the four GENERAL AUTHENTICATE rounds
 * (encrypted nonce, mapping, key agreement, mutual authentication = token exchange), and the
 * policy that refused BAC.
 */
export type AccessStep =
  | 'get-challenge'
  | 'mutual-authenticate'
  | 'verify-chip-cryptogram'
  | 'input'
  | 'pace-card-access'
  | 'pace-set-at'
  | 'pace-nonce'
  | 'pace-map'
  | 'pace-key-agreement'
  | 'pace-tokens'
  | 'pace-cam'
  | 'policy';

/** Access control (BAC or PACE) failed at `step`. */
export class AccessControlError extends CardError {
  override readonly name = 'AccessControlError';
  readonly layer = 'access';
  constructor(
    readonly step: AccessStep,
    message: string,
    readonly statusWord?: number,
  ) {
    super(
      `access control ${step}: ${message}${statusWord === undefined ? '' : ` (SW ${swHex(statusWord)})`}`,
    );
  }
}

/** Selecting or reading a file failed. */
export class CardFileError extends CardError {
  override readonly name = 'CardFileError';
  readonly layer = 'files';
  constructor(
    readonly file: string,
    readonly step: 'select' | 'read',
    message: string,
    readonly statusWord?: number,
  ) {
    super(`${file} ${step}: ${message}${statusWord === undefined ? '' : ` (SW ${swHex(statusWord)})`}`);
  }
}

/** A TLV structure or an LDS file is truncated or malformed. */
export class LdsError extends CardError {
  override readonly name = 'LdsError';
  readonly layer = 'lds';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** Active Authentication could not be run or its signature did not verify. */
export class ActiveAuthError extends CardError {
  override readonly name = 'ActiveAuthError';
  readonly layer = 'aa';
  constructor(
    readonly step: 'key' | 'internal-authenticate' | 'signature',
    message: string,
  ) {
    super(`active authentication ${step}: ${message}`);
  }
}

/** Chip Authentication (part 11 §6.2) could not be run: no usable DG14 key, or the chip refused. */
export class ChipAuthError extends CardError {
  override readonly name = 'ChipAuthError';
  readonly layer = 'ca';
  constructor(
    readonly step: 'key' | 'set-at' | 'general-authenticate',
    message: string,
    readonly statusWord?: number,
  ) {
    super(
      `chip authentication ${step}: ${message}${statusWord === undefined ? '' : ` (SW ${swHex(statusWord)})`}`,
    );
  }
}

/** A trust-list item (CSCA master list, CRL) does not parse or does not verify. */
export class TrustListError extends CardError {
  override readonly name = 'TrustListError';
  readonly layer = 'trust';
  constructor(
    readonly check:
      | 'structure'
      | 'content-type'
      | 'signature'
      | 'signer-trust'
      | 'signer-validity'
      | 'crl-issuer'
      | 'crl-signature'
      | 'crl-validity',
    message: string,
  ) {
    super(`trust list ${check}: ${message}`);
  }
}

/** EF.SOD could not be parsed (verification failures are verdicts, not exceptions). */
export class SodError extends CardError {
  override readonly name = 'SodError';
  readonly layer = 'pa';
}

export function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** Why an MRZ was refused: one reason per failed field or check digit. */
export type MrzReason =
  | 'format'
  | 'charset'
  | 'document-number-check'
  | 'birth-date-check'
  | 'expiry-date-check'
  | 'composite-check'
  | 'optional-data-check'
  | 'birth-date'
  | 'expiry-date'
  | 'document-code'
  | 'issuing-state';

export class MrzError extends CardError {
  override readonly name = 'MrzError';
  readonly layer = 'lds';
  constructor(readonly reasons: MrzReason[]) {
    super(`MRZ refused: ${reasons.join(', ')}`);
  }
}

/** Why a CCCD input was refused; one reason per failed rule, told apart by code, never by text. */
export type CccdReason =
  | 'id-format'
  | 'unknown-province'
  | 'century-out-of-range'
  | 'birth-year-mismatch'
  | 'sex-mismatch'
  | 'impossible-date'
  | 'qr-field-count'
  | 'qr-old-id-format'
  | 'qr-sex'
  | 'qr-empty-name'
  | 'mrz-not-cccd'
  | 'mrz-check-digit'
  | 'mrz-id-check-digit'
  | 'document-number-mismatch'
  | 'document-number-given-as-id';

export class CccdError extends Error {
  override readonly name = 'CccdError';
  constructor(
    readonly input: 'id-number' | 'qr' | 'mrz' | 'date',
    readonly reasons: CccdReason[],
    readonly detail?: string,
  ) {
    super(`${input} refused: ${reasons.join(', ')}${detail ? ` (${detail})` : ''}`);
  }
}

import { type BacKey } from '../card/bac.js';
import { MrzError } from '../card/errors.js';
import { type Mrz, checkDigit, formatTd1, parseMrz } from '../card/mrz.js';
import { formatYyMmDd } from './dates.js';
import { CccdError } from './errors.js';
import { expiryFor } from './expiry.js';
import { type IdNumber, parseIdNumber } from './id-number.js';
import { type QrPayload } from './qr.js';
import { type CitizenRecord } from './record.js';

/** MRZ `991231` = "Không thời hạn" (no expiry). */
export const NO_EXPIRY = '991231';

/** Latin MRZ letters from a Vietnamese name: diacritics dropped, Đ → D (ICAO 9303 part 3 §6). */
export function toMrzName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[Đđ]/g, 'D')
    .toUpperCase()
    .replace(/[^A-Z ]/g, '')
    .trim();
}

/** The card's TD1 MRZ from a citizen record (cccd-facts.md §3 layout). */
export function cccdMrzFromRecord(r: CitizenRecord): string[] {
  const words = toMrzName(r.fullName).split(/\s+/);
  return formatTd1({
    documentCode: 'ID',
    issuingState: 'VNM',
    documentNumber: r.idNumber.slice(3),
    optionalData1: `${r.idNumber}<<${checkDigit(r.idNumber)}`,
    dateOfBirth: formatYyMmDd(r.dateOfBirth),
    sex: r.sex === 'male' ? 'M' : 'F',
    dateOfExpiry: r.dateOfExpiry ? formatYyMmDd(r.dateOfExpiry) : NO_EXPIRY,
    nationality: 'VNM',
    optionalData2: '',
    primaryIdentifier: words[0] ?? '',
    secondaryIdentifier: words.slice(1).join(' '),
  });
}

export interface CccdMrz {
  mrz: Mrz;
  id: IdNumber;
}

/**
 * Parses a CCCD's MRZ: the standard checks, then the CCCD's own: optional data holds the 12-digit
 * ID with a check digit at line 1 position 30, and the document number is its last 9 digits.
 */
export function parseCccdMrz(text: string | string[]): CccdMrz {
  let mrz: Mrz;
  try {
    mrz = parseMrz(text);
  } catch (error) {
    if (error instanceof MrzError) throw new CccdError('mrz', ['mrz-check-digit'], error.reasons.join(', '));
    throw error;
  }
  if (mrz.format !== 'TD1' || mrz.documentCode !== 'ID' || mrz.issuingState !== 'VNM')
    throw new CccdError('mrz', ['mrz-not-cccd']);
  const idText = mrz.optionalData1.slice(0, 12);
  if (checkDigit(idText.replace(/[^0-9A-Z<]/g, '<')) !== mrz.optionalData1[14])
    throw new CccdError('mrz', ['mrz-id-check-digit']);
  const sex = mrz.sex === 'M' ? 'male' : mrz.sex === 'F' ? 'female' : undefined;
  const id = parseIdNumber(idText, sex ? { sex } : undefined);
  if (id.documentNumber !== mrz.documentNumber) throw new CccdError('mrz', ['document-number-mismatch']);
  if (String(id.birthYear % 100).padStart(2, '0') !== mrz.dateOfBirth.slice(0, 2))
    throw new CccdError('mrz', ['birth-year-mismatch']);
  return { mrz, id };
}

export function bacKeyFromMrz(mrz: Mrz): BacKey {
  return { documentNumber: mrz.documentNumber, dateOfBirth: mrz.dateOfBirth, dateOfExpiry: mrz.dateOfExpiry };
}

/**
 * The BAC key from the front QR alone: document number = last 9 digits of the ID, birth date from
 * the QR, expiry derived from birth and issue dates by the renewal ages (or 991231).
 */
export function bacKeyFromQr(qr: QrPayload): BacKey {
  const expiry = expiryFor(qr.dateOfBirth, qr.dateOfIssue);
  return {
    documentNumber: qr.idNumber.slice(3),
    dateOfBirth: formatYyMmDd(qr.dateOfBirth),
    dateOfExpiry: expiry ? formatYyMmDd(expiry) : NO_EXPIRY,
  };
}

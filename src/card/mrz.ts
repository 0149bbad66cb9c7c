import { parse as parseWithLibrary } from 'mrz';
import { MrzError, type MrzReason } from './errors.js';

/**
 * Machine-readable zone (ICAO 9303 part 3 §4.9 check digits; part 5 TD1, part 4 TD3).
 * Field splitting and the standard check digits come from the `mrz` package; what it does not
 * know (the CCCD's check digit over its 12-digit ID in TD1 line 1 position 30) lives in src/cccd.
 */
export interface Mrz {
  format: 'TD1' | 'TD3';
  documentCode: string;
  issuingState: string;
  documentNumber: string;
  /** TD1 line 1 positions 16–30 / TD3 line 2 positions 29–42, `<` kept */
  optionalData1: string;
  dateOfBirth: string;
  sex: 'M' | 'F' | '<';
  dateOfExpiry: string;
  nationality: string;
  optionalData2: string;
  primaryIdentifier: string;
  secondaryIdentifier: string;
  lines: string[];
}

const CHECK_WEIGHTS = [7, 3, 1];

function charValue(ch: string): number {
  if (ch === '<') return 0;
  const code = ch.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 90) return code - 55;
  throw new MrzError(['charset']);
}

/** ICAO 9303 part 3 §4.9: weights 7-3-1, `<` = 0, A = 10 … Z = 35, sum mod 10. */
export function checkDigit(field: string): string {
  let sum = 0;
  for (let i = 0; i < field.length; i++) sum += charValue(field[i]!) * CHECK_WEIGHTS[i % 3]!;
  return String(sum % 10);
}

const LIBRARY_FIELD_REASON: Record<string, MrzReason> = {
  documentNumberCheckDigit: 'document-number-check',
  birthDateCheckDigit: 'birth-date-check',
  expirationDateCheckDigit: 'expiry-date-check',
  compositeCheckDigit: 'composite-check',
  birthDate: 'birth-date',
  expirationDate: 'expiry-date',
  documentCode: 'document-code',
  issuingState: 'issuing-state',
};

/** Parses a TD1 (3×30) or TD3 (2×44) MRZ; throws `MrzError` listing every failed check. */
export function parseMrz(text: string | string[]): Mrz {
  const lines = (Array.isArray(text) ? text : text.split(/\r?\n/))
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const isTd1 = lines.length === 3 && lines.every((l) => l.length === 30);
  const isTd3 = lines.length === 2 && lines.every((l) => l.length === 44);
  if (!isTd1 && !isTd3) throw new MrzError(['format']);
  if (!lines.every((l) => /^[0-9A-Z<]+$/.test(l))) throw new MrzError(['charset']);
  const result = parseWithLibrary(lines);
  const reasons = new Set<MrzReason>();
  for (const detail of result.details) {
    if (detail.valid || !detail.field) continue;
    const reason = LIBRARY_FIELD_REASON[detail.field];
    // issuing state / nationality codes of the library's table are not ours to enforce (e.g. test "UTO")
    if (reason && reason !== 'issuing-state') reasons.add(reason);
  }
  if (reasons.size > 0) throw new MrzError([...reasons]);
  const [l1, l2, l3] = lines as [string, string, string?];
  const names = (isTd1 ? l3! : l1.slice(5)).split('<<');
  const words = (s: string | undefined) => (s ?? '').replace(/<+$/, '').split('<').filter(Boolean).join(' ');
  const sexChar = isTd1 ? l2[7]! : l2[20]!;
  return {
    format: isTd1 ? 'TD1' : 'TD3',
    documentCode: l1.slice(0, 2).replace(/<+$/, ''),
    issuingState: l1.slice(2, 5),
    documentNumber: (isTd1 ? l1.slice(5, 14) : l2.slice(0, 9)).replace(/<+$/, ''),
    optionalData1: isTd1 ? l1.slice(15, 30) : l2.slice(28, 42),
    dateOfBirth: isTd1 ? l2.slice(0, 6) : l2.slice(13, 19),
    sex: sexChar === 'M' || sexChar === 'F' ? sexChar : '<',
    dateOfExpiry: isTd1 ? l2.slice(8, 14) : l2.slice(21, 27),
    nationality: isTd1 ? l2.slice(15, 18) : l2.slice(10, 13),
    optionalData2: isTd1 ? l2.slice(18, 29) : '',
    primaryIdentifier: words(names[0]),
    secondaryIdentifier: words(names.slice(1).join('<<')),
    lines,
  };
}

/** What a TD1 MRZ says, before check digits: the fields of `Mrz` without its format and lines. */
export type Td1Fields = Omit<Mrz, 'format' | 'lines'>;

/** Formats a TD1 MRZ with all check digits (ICAO 9303 part 5 §4.2.2). The encoder beside `parseMrz`. */
export function formatTd1(f: Td1Fields): string[] {
  const fill = (s: string, n: number) => s.toUpperCase().replace(/ /g, '<').padEnd(n, '<').slice(0, n);
  const doc = fill(f.documentNumber, 9);
  const line1 =
    fill(f.documentCode, 2) + fill(f.issuingState, 3) + doc + checkDigit(doc) + fill(f.optionalData1, 15);
  const line2Head =
    f.dateOfBirth + checkDigit(f.dateOfBirth) + f.sex + f.dateOfExpiry + checkDigit(f.dateOfExpiry);
  const line2Body = line2Head + fill(f.nationality, 3) + fill(f.optionalData2, 11);
  const composite = checkDigit(
    line1.slice(5, 30) + line2Body.slice(0, 7) + line2Body.slice(8, 15) + line2Body.slice(18, 29),
  );
  const names = fill(
    f.primaryIdentifier.replace(/ /g, '<') + '<<' + f.secondaryIdentifier.replace(/ /g, '<'),
    30,
  );
  return [line1, line2Body + composite, names];
}

/**
 * Keeping personal data out of logs and telemetry (DESIGN.md "Security model": logs never carry
 * PII; ID numbers are masked, names never logged). Used by the logger on every line, so it must
 * be cheap on objects without PII.
 */

/** `001195012345` → `001*******45`: the province code and two digits, enough to tell records apart. */
export function maskIdNumber(id: string): string {
  if (id.length <= 5) return '*'.repeat(id.length);
  return `${id.slice(0, 3)}${'*'.repeat(id.length - 5)}${id.slice(-2)}`;
}

/** Keys whose values are removed outright: names, addresses, contact data, MRZ, biometrics, keys. */
const REDACTED_KEYS = new Set(
  [
    'name',
    'fullName',
    'citizenName',
    'holderName',
    'surname',
    'givenNames',
    'primaryIdentifier',
    'secondaryIdentifier',
    'fatherName',
    'motherName',
    'spouseName',
    'address',
    'permanentAddress',
    'placeOfResidence',
    'placeOfOrigin',
    'phone',
    'email',
    'mrz',
    'mrzLines',
    'dg1',
    'dg2',
    'dg13',
    'portrait',
    'template',
    'templates',
    'fingerprintTemplate',
    'dateOfBirth',
    'dob',
    'birthDate',
    'qr',
    'qrPayload',
    'payload',
    'bacKey',
    'kEnc',
    'kMac',
    'ksEnc',
    'ksMac',
    'secretKey',
    'privateKey',
    'password',
    'token',
  ].map((key) => key.toLowerCase()),
);

/** Keys whose values are ID-like numbers: kept, masked. */
const MASKED_KEYS = new Set(
  ['idNumber', 'personalId', 'citizenId', 'cccd', 'oldIdNumber', 'cmnd', 'documentNumber'].map((k) =>
    k.toLowerCase(),
  ),
);

export const REDACTED = '[redacted]';

// 12-digit personal IDs and 9-digit CMND/document numbers standing alone in free text.
const ID_IN_TEXT = /(?<![0-9])(\d{12}|\d{9})(?![0-9])/g;
// A line of an ICAO MRZ (TD1 is 30 characters, TD3 44): upper-case, digits and filler runs.
const MRZ_IN_TEXT = /[A-Z0-9<]{25,}<[A-Z0-9<]*/g;

export function scrubText(text: string): string {
  if (!/\d{9}|<</.test(text)) return text;
  return text.replace(MRZ_IN_TEXT, REDACTED).replace(ID_IN_TEXT, (digits) => maskIdNumber(digits));
}

const MAX_DEPTH = 8;

/** A copy of `value` with PII removed or masked; the input is never modified. */
export function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[depth]';
  if (value instanceof Error) {
    const copy: Record<string, unknown> = { type: value.name, message: scrubText(value.message) };
    if (value.stack) copy.stack = scrubText(value.stack);
    for (const [key, inner] of Object.entries(value)) copy[key] = scrubEntry(key, inner, depth);
    return copy;
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) copy[key] = scrubEntry(key, inner, depth);
  return copy;
}

function scrubEntry(key: string, value: unknown, depth: number): unknown {
  const lower = key.toLowerCase();
  if (REDACTED_KEYS.has(lower)) return value === undefined || value === null ? value : REDACTED;
  if (MASKED_KEYS.has(lower) && (typeof value === 'string' || typeof value === 'number')) {
    return maskIdNumber(String(value));
  }
  return scrubValue(value, depth + 1);
}

/**
 * Keeping personal data out of logs and telemetry (DESIGN.md "Security model": logs never carry
 * PII; the scrubber is an allow-list; ID numbers are masked, names never logged). Used by the
 * logger on every line, so it must be cheap on objects without PII.
 */

/** `001195012345` → `001*******45`: the province code and two digits, enough to tell records apart. */
export function maskIdNumber(id: string): string {
  if (id.length <= 5) return '*'.repeat(id.length);
  return `${id.slice(0, 3)}${'*'.repeat(id.length - 5)}${id.slice(-2)}`;
}

/**
 * The allow-list (issue 12): keys whose values are operational — states, codes, counts, pseudonymous
 * ids, device and topic names — and are logged (strings still pass `scrubText`). A key not listed
 * here is logged as its type and size only (`[string 12]`), so a new field carrying personal data
 * (`fingerTemplate`, `residence`, `contact`, `changes` slipped through the old deny-list) stays out
 * of the logs until someone declares it safe here, on purpose.
 */
const SAFE_KEYS = new Set(
  [
    // pino's own and the error serialiser's
    'level',
    'time',
    'pid',
    'hostname',
    'msg',
    'room',
    'err',
    'type',
    'message',
    'stack',
    'code',
    'errno',
    'syscall',
    'cause',
    // what the runtime logs
    'active',
    'attempt',
    'attempts',
    'broker',
    'bundleBytes',
    'by',
    'card',
    'changed',
    'client',
    'command',
    'deadlineMs',
    'declaredBytes',
    'depth',
    'detail',
    'device',
    'effect',
    'event',
    'failedChecks',
    'fault',
    'file',
    'id',
    'input',
    'issues',
    'job',
    'kind',
    'kioskId',
    'le',
    'length',
    'lengths',
    'loaded',
    'mechanics',
    'method',
    'movedTo',
    'ms',
    'n',
    'online',
    'op',
    'origin',
    'owner',
    'passive',
    'path',
    'pickupId',
    'port',
    'reason',
    'receivedBytes',
    'recovered',
    'restartRequired',
    'rows',
    'service',
    'signal',
    'slot',
    'sod',
    'source',
    'state',
    'status',
    'step',
    'sw',
    'synchronous',
    'timeout',
    'topic',
    // the touchscreen UI's loopback URL in "kiosk runtime ready": what operators (and tests) open
    'ui',
    'unmatched',
    'version',
    'where',
    'wait',
    'was',
    'host',
    'count',
    'failures',
    'screen',
  ].map((key) => key.toLowerCase()),
);

/** Keys known to carry personal data or secrets: their values read `[redacted]`, plainly. */
const REDACTED_KEYS = new Set(
  [
    'name',
    'fullName',
    'address',
    'phone',
    'email',
    'mrz',
    'mrzLines',
    'template',
    'fingerTemplate',
    'residence',
    'contact',
    'changes',
    'record',
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
// Vietnamese phone numbers (10 digits from 0, or +84 and 9 digits) and e-mail addresses in free text.
const PHONE_IN_TEXT = /(?<![0-9])(?:0|\+84)\d{9}(?![0-9])/g;
const EMAIL_IN_TEXT = /[^\s@"'<>()]{1,64}@[^\s@"'<>()]{1,255}\.[A-Za-z]{2,}/g;

export function scrubText(text: string): string {
  if (!/\d{9}|<<|@/.test(text)) return text;
  return text
    .replace(EMAIL_IN_TEXT, REDACTED)
    .replace(MRZ_IN_TEXT, REDACTED)
    .replace(PHONE_IN_TEXT, REDACTED)
    .replace(ID_IN_TEXT, (digits) => maskIdNumber(digits));
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
  if (value === undefined || value === null || typeof value === 'boolean') return value;
  const lower = key.toLowerCase();
  if (MASKED_KEYS.has(lower) && (typeof value === 'string' || typeof value === 'number')) {
    return maskIdNumber(String(value));
  }
  if (SAFE_KEYS.has(lower) || /^\d+$/.test(key)) return scrubValue(value, depth + 1);
  if (REDACTED_KEYS.has(lower)) return REDACTED;
  return describe(value);
}

/** What an undeclared field is logged as: its type and size, never its content. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `[string ${value.length}]`;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (Array.isArray(value)) return `[array ${value.length}]`;
  return `[${typeof value}]`;
}

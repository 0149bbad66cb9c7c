import { type CalendarDate, formatDdMmYyyy, parseDdMmYyyy } from './dates.js';
import { CccdError } from './errors.js';
import { type Sex, parseIdNumber } from './id-number.js';

/**
 * The front QR of a CCCD21 card (and the prefix of a CC24 back QR): 7 fields separated by `|`,
 * `id | oldCmnd | name | ddMMyyyy | Nam/Nữ | address | ddMMyyyy` (cccd-facts.md §1). Longer CC24
 * payloads are accepted; their extra fields are kept as they are. The QR is not signed: a hint only.
 */
export interface QrPayload {
  idNumber: string;
  /** empty when the citizen never had a 9-digit CMND */
  oldIdNumber: string;
  fullName: string;
  dateOfBirth: CalendarDate;
  sex: Sex;
  address: string;
  dateOfIssue: CalendarDate;
  extraFields: string[];
}

export function parseQr(text: string): QrPayload {
  const fields = text
    .normalize('NFC')
    .replace(/\r?\n$/, '')
    .split('|');
  if (fields.length < 7) throw new CccdError('qr', ['qr-field-count'], `${fields.length} fields`);
  const [id, old, name, dob, sexText, address, issued, ...extraFields] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    ...string[],
  ];
  if (old !== '' && !/^\d{9}$|^\d{12}$/.test(old)) throw new CccdError('qr', ['qr-old-id-format']);
  const sex: Sex | undefined = sexText === 'Nam' ? 'male' : sexText === 'Nữ' ? 'female' : undefined;
  if (!sex) throw new CccdError('qr', ['qr-sex']);
  if (name.trim() === '') throw new CccdError('qr', ['qr-empty-name']);
  const dateOfBirth = parseDdMmYyyy(dob);
  const dateOfIssue = parseDdMmYyyy(issued);
  parseIdNumber(id, { dateOfBirth, sex });
  return {
    idNumber: id,
    oldIdNumber: old,
    fullName: name,
    dateOfBirth,
    sex,
    address,
    dateOfIssue,
    extraFields,
  };
}

export function formatQr(p: QrPayload): string {
  return [
    p.idNumber,
    p.oldIdNumber,
    p.fullName,
    formatDdMmYyyy(p.dateOfBirth),
    p.sex === 'male' ? 'Nam' : 'Nữ',
    p.address,
    formatDdMmYyyy(p.dateOfIssue),
    ...p.extraFields,
  ].join('|');
}

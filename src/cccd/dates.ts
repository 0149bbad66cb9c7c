import { CccdError } from './errors.js';

/** A calendar date without time zone. */
export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

export function isValidDate(d: CalendarDate): boolean {
  if (!Number.isInteger(d.year) || d.month < 1 || d.month > 12 || d.day < 1) return false;
  const days = new Date(Date.UTC(d.year, d.month, 0)).getUTCDate();
  return d.day <= days;
}

/** `ddMMyyyy` (QR) → date; throws `CccdError` with `impossible-date`. */
export function parseDdMmYyyy(text: string): CalendarDate {
  const m = /^(\d{2})(\d{2})(\d{4})$/.exec(text);
  const date = m ? { day: Number(m[1]), month: Number(m[2]), year: Number(m[3]) } : undefined;
  if (!date || !isValidDate(date)) throw new CccdError('date', ['impossible-date']);
  return date;
}

const two = (n: number) => String(n).padStart(2, '0');
export const formatDdMmYyyy = (d: CalendarDate) => `${two(d.day)}${two(d.month)}${d.year}`;
/** `dd/MM/yyyy`, as DG13 writes dates */
export const formatSlashed = (d: CalendarDate) => `${two(d.day)}/${two(d.month)}${'/'}${d.year}`;
export const formatYyMmDd = (d: CalendarDate) => `${two(d.year % 100)}${two(d.month)}${two(d.day)}`;
export const sameDate = (a: CalendarDate, b: CalendarDate) =>
  a.year === b.year && a.month === b.month && a.day === b.day;

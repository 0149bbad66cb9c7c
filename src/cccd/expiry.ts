import { type CalendarDate } from './dates.js';

/** Cards issued from 1 July 2024 are CC24 (Law on Identity 2023); earlier ones CCCD21. */
const CC24_FROM: CalendarDate = { year: 2024, month: 7, day: 1 };
const CCCD21_RENEWAL_AGES = [25, 40, 60];
/** Law on Identity 2023 Art. 21: renewal at 14, 25, 40 and 60. */
const CC24_RENEWAL_AGES = [14, 25, 40, 60];

const key = (d: CalendarDate) => d.year * 10000 + d.month * 100 + d.day;

/**
 * The printed expiry: the birthday at the next renewal age; a card issued within two years before
 * a renewal age stays valid to the following one; after the last age it never expires (null,
 * MRZ `991231`). cccd-facts.md §3 "Expiry day/month always equals the birthday".
 */
export function expiryFor(dateOfBirth: CalendarDate, dateOfIssue: CalendarDate): CalendarDate | null {
  const ages = key(dateOfIssue) >= key(CC24_FROM) ? CC24_RENEWAL_AGES : CCCD21_RENEWAL_AGES;
  const twoYearsAfterIssue = key({ ...dateOfIssue, year: dateOfIssue.year + 2 });
  for (const age of ages) {
    const milestone = { ...dateOfBirth, year: dateOfBirth.year + age };
    if (key(milestone) > twoYearsAfterIssue) return milestone;
  }
  return null;
}

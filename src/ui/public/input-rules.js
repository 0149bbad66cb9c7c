/* What the touchscreen accepts as a new phone number and e-mail address, checked as the citizen
 * types so the message comes before "Continue". The same rules as the kiosk's own check
 * (src/kiosk/contact-rules.ts); test/unit/ui/input-rules.test.ts keeps the two in step. */

/** A Vietnamese number (mobile 03/05/07/08/09 + 8 digits, landline 02 + 9, or +84), normalised. */
export function normalisePhone(value) {
  const digits = value.trim().replace(/[\s.-]/g, '');
  const national = digits.replace(/^\+?84(?=\d{9,10}$)/, '0');
  return /^0(?:[35789]\d{8}|2\d{9})$/.test(national) ? national : undefined;
}

export function isEmailAddress(value) {
  if (value.length > 254) return false;
  return /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$/.test(
    value,
  );
}

/** "001195012345" → "001 195 012 345": the 12 digits in groups of three, as they are typed. */
export function groupDigits(digits) {
  return (digits.match(/\d{1,3}/g) ?? []).join(' ');
}

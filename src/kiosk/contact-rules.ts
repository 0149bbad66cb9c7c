/**
 * What the kiosk accepts as a citizen's new contact details before it forwards them to the
 * registry. The touchscreen app checks the same rules as the citizen types
 * (src/ui/public/input-rules.js; test/unit/kiosk/contact-rules.test.ts keeps the two in step), so
 * this is the kiosk's own check of what a page sent, not the citizen's first feedback.
 */
import type { ContactChanges } from './session-machine.js';

/**
 * Vietnamese numbers as citizens write them: mobile 0 + 9 digits (03, 05, 07, 08, 09), landline
 * 02 + 9 digits, or either with +84/84 for the 0. Spaces, dots and hyphens between digits are
 * dropped: "0911 222 333" is 0911222333.
 */
export function normalisePhone(value: string): string | undefined {
  const digits = value.trim().replace(/[\s.-]/g, '');
  const national = digits.replace(/^\+?84(?=\d{9,10}$)/, '0');
  return /^0(?:[35789]\d{8}|2\d{9})$/.test(national) ? national : undefined;
}

/**
 * An e-mail address a registry can deliver to: one @, a local part of the usual characters, a
 * domain of dot-separated labels with a letter TLD. Deliberately narrower than RFC 5322 (quoted
 * local parts and IP literals are not something a citizen types at a kiosk).
 */
export function isEmailAddress(value: string): boolean {
  if (value.length > 254) return false;
  return /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$/.test(
    value,
  );
}

export type ContactCheck = { ok: true; changes: ContactChanges } | { ok: false; messageKey: string };

/** Checks and normalises an edit; an empty field means "no change" and is dropped. */
export function checkContactChanges(fields: ContactChanges): ContactCheck {
  const changes: ContactChanges = {};
  if (fields.phone !== undefined && fields.phone.trim() !== '') {
    const phone = normalisePhone(fields.phone);
    if (!phone) return { ok: false, messageKey: 'update.invalid-phone' };
    changes.phone = phone;
  }
  if (fields.email !== undefined && fields.email.trim() !== '') {
    const email = fields.email.trim();
    if (!isEmailAddress(email)) return { ok: false, messageKey: 'update.invalid-email' };
    changes.email = email;
  }
  if (fields.residence) {
    const detail = fields.residence.detail.trim();
    if (!fields.residence.provinceCode || !fields.residence.wardCode)
      return { ok: false, messageKey: 'update.invalid-residence' };
    changes.residence = { ...fields.residence, detail };
  }
  return { ok: true, changes };
}

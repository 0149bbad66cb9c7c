import { describe, expect, it } from 'vitest';
import * as kiosk from '../../../src/kiosk/contact-rules.js';
import * as page from '../../../src/ui/public/input-rules.js';

const PHONES = [
  ['0911 222 333', '0911222333'],
  ['0911.222.333', '0911222333'],
  ['+84 911 222 333', '0911222333'],
  ['84911222333', '0911222333'],
  ['0351234567', '0351234567'],
  ['024 3825 1234', '02438251234'],
  ['0123', undefined],
  ['0111222333', undefined],
  ['09112223334', undefined],
  ['not a phone', undefined],
  ['', undefined],
] as const;
const EMAILS = [
  ['anh.le@example.vn', true],
  ['a+b@mail.gov.vn', true],
  ['not-an-email', false],
  ['a@b', false],
  ['a@@b.vn', false],
  ['a b@c.vn', false],
  ['@example.vn', false],
  [`${'a'.repeat(65)}@example.vn`, false],
] as const;

describe('contact rules: the page and the kiosk agree', () => {
  it.each(PHONES)('phone %j → %j', (input, expected) => {
    expect(kiosk.normalisePhone(input)).toBe(expected);
    expect(page.normalisePhone(input)).toBe(expected);
  });
  it.each(EMAILS)('e-mail %j → %j', (input, expected) => {
    expect(kiosk.isEmailAddress(input)).toBe(expected);
    expect(page.isEmailAddress(input)).toBe(expected);
  });
  it('groups ID digits 3-3-3-3 as they are typed', () => {
    expect(page.groupDigits('0011950')).toBe('001 195 0');
    expect(page.groupDigits('001195012345')).toBe('001 195 012 345');
    expect(page.groupDigits('')).toBe('');
  });
  it('an edit with a bad field is refused with its message, an empty one means no change', () => {
    expect(kiosk.checkContactChanges({ email: 'not-an-email' })).toEqual({
      ok: false,
      messageKey: 'update.invalid-email',
    });
    expect(kiosk.checkContactChanges({ phone: '0911 222 333', email: '' })).toEqual({
      ok: true,
      changes: { phone: '0911222333' },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { maskIdNumber, scrubText, scrubValue } from '../../../src/util/pii.js';
import { capturingLogger } from '../../helpers/logs.js';

const ID = '001195012345';
const NAME = 'Trần Thị Mai';
const MRZ_LINE = 'IDVNM1950123452001195012345<<3';

describe('log redaction', () => {
  it('prints neither the ID number nor the name given to a log call', () => {
    const { log, text } = capturingLogger();
    log.info({ idNumber: ID, fullName: NAME, citizen: { name: NAME, personalId: ID } }, 'citizen identified');
    log.warn(`lookup failed for ${ID}`);
    log.error({ err: new Error(`no manifest entry for ${ID}`) }, 'pickup refused');
    log.info({ mrz: [MRZ_LINE], note: `scanned ${MRZ_LINE}` }, 'chip read');
    const output = text();
    expect(output).not.toContain(ID);
    expect(output).not.toContain(NAME);
    expect(output).not.toContain('Trần');
    expect(output).not.toContain(MRZ_LINE);
    // what remains is still useful to an operator
    expect(output).toContain(maskIdNumber(ID));
    expect(output).toContain('citizen identified');
    expect(output).toContain('pickup refused');
  });

  it('leaves a caller’s object untouched', () => {
    const record = { idNumber: ID, fullName: NAME };
    const { log } = capturingLogger();
    log.info(record, 'x');
    expect(record).toEqual({ idNumber: ID, fullName: NAME });
  });
});

describe('scrubbing', () => {
  it('masks ID numbers and keeps the province code', () => {
    expect(maskIdNumber(ID)).toBe('001*******45');
    expect(scrubText(`id ${ID} and cmnd 012345678 but not 1234567890123`)).toBe(
      'id 001*******45 and cmnd 012****78 but not 1234567890123',
    );
  });

  it('describes buffers by length instead of content', () => {
    expect(scrubValue({ template: Buffer.alloc(4), frame: Buffer.from([1, 2, 3]) })).toEqual({
      template: '[redacted]',
      frame: '[3 bytes]',
    });
  });

  it('stops at a bounded depth on deep or cyclic-looking input', () => {
    let deep: Record<string, unknown> = { idNumber: ID };
    for (let i = 0; i < 20; i++) deep = { inner: deep };
    expect(JSON.stringify(scrubValue(deep))).not.toContain(ID);
  });
});

describe('the allow-list (issue 12)', () => {
  const PHONE = '0912345678';
  const EMAIL = 'tran.thi.mai@example.vn';
  const residence = { provinceCode: '01', wardCode: '00004', detail: '12 Phố Huế, Hai Bà Trưng' };

  it('logs undeclared fields as their type and size only — the fields the deny-list missed included', () => {
    const { log, text } = capturingLogger();
    log.info(
      {
        fingerTemplate: 'QUJDREVGR0g=',
        residence,
        contact: { phone: PHONE, email: EMAIL },
        changes: { phone: PHONE },
        note: 'Phố Huế',
        body: { detail: residence.detail, nested: { phone: PHONE } },
        pickupId: 'P-1',
        slot: 2,
      },
      'update',
    );
    const output = text();
    for (const secret of [PHONE, EMAIL, 'Phố Huế', 'QUJDREVGR0g=', '00004'])
      expect(output).not.toContain(secret);
    const line = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ pickupId: 'P-1', slot: 2, note: '[string 7]', body: '[object]' });
  });

  it('keeps the UI URL of the ready line, which operators and the deploy test open', () => {
    const { log, text } = capturingLogger();
    log.info({ kioskId: 'hn-0001', ui: 'http://127.0.0.1:8080', version: '0.1.0' }, 'kiosk runtime ready');
    expect(JSON.parse(text().trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      kioskId: 'hn-0001',
      ui: 'http://127.0.0.1:8080',
      version: '0.1.0',
    });
  });

  it('masks phones and e-mail addresses inside free text of declared fields and messages', () => {
    expect(scrubText(`call ${PHONE} or +84912345678, write ${EMAIL}`)).toBe(
      'call [redacted] or [redacted], write [redacted]',
    );
    const { log, text } = capturingLogger();
    log.warn({ reason: `contact ${EMAIL}` }, `sms to ${PHONE} failed`);
    expect(text()).not.toContain(PHONE);
    expect(text()).not.toContain(EMAIL);
  });
});

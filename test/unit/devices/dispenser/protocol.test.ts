import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DISPENSER_SYSEX,
  decodeDispenserCommand,
  decodeDispenserReply,
  encodeDispenserCommand,
  encodeDispenserReply,
  encodeFirmata,
  EVENT,
  FirmataDecoder,
  type FirmataFrame,
  type FirmataMessage,
} from '../../../../devices/dispenser/protocol.js';
import { expectEverySplit, fuzzDecoder } from '../../../helpers/codec-fuzz.js';

const seven = fc.integer({ min: 0, max: 0x7f });
const fourteen = fc.integer({ min: 0, max: 0x3fff });
const hostMessage: fc.Arbitrary<FirmataMessage> = fc.oneof(
  fc.record({
    kind: fc.constant('sysex' as const),
    command: seven,
    data: fc.array(seven, { maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('digital' as const),
    port: fc.integer({ min: 0, max: 15 }),
    value: fourteen,
  }),
  fc.record({ kind: fc.constant('analog' as const), pin: fc.integer({ min: 0, max: 15 }), value: fourteen }),
  fc.record({
    kind: fc.constant('report-digital' as const),
    port: fc.integer({ min: 0, max: 15 }),
    enable: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('set-pin-mode' as const), pin: seven, mode: seven }),
  fc.record({ kind: fc.constant('set-digital-pin' as const), pin: seven, value: fc.constantFrom(0, 1) }),
  fc.constant({ kind: 'report-version' as const }),
  fc.constant({ kind: 'system-reset' as const }),
);

const messages = (frames: FirmataFrame[]) => frames.flatMap((f) => (f.kind === 'message' ? [f.message] : []));

describe('dispenser wire codec (Firmata + DISPENSER sysex)', () => {
  it('encodes the DISPENSER command and reply of PROTOCOL.md byte for byte', () => {
    expect(encodeDispenserCommand({ op: 0x01, seq: 5, arg: 12 }).toString('hex')).toBe('f00101050cf7');
    expect(encodeDispenserReply({ event: EVENT.done, seq: 5, code: 1 }).toString('hex')).toBe(
      'f0011105' + '01f7',
    );
    expect(decodeDispenserReply([0x12, 5, 1])).toEqual({ event: 0x12, seq: 5, code: 1 });
    expect(decodeDispenserReply([0x55, 5, 1])).toBeUndefined();
    expect(() => encodeDispenserCommand({ op: 1, seq: 128, arg: 0 })).toThrow(RangeError);
  });

  it('fuzz: DISPENSER bodies: 100,000 random ones never throw, valid ones round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }), (body) => {
        const reply = decodeDispenserReply(body);
        if (reply) expect([...encodeDispenserReply(reply).subarray(2, -1)]).toEqual(body);
        const command = decodeDispenserCommand(body);
        if (command) expect([...encodeDispenserCommand(command).subarray(2, -1)]).toEqual(body);
      }),
      { numRuns: 100_000 },
    );
  });

  it('decodes a board stream split at every offset, with stray bytes between messages', () => {
    const bytes = Buffer.concat([
      Buffer.from([0x01, 0x02]),
      encodeFirmata({ kind: 'report-version', major: 2, minor: 5 }),
      encodeDispenserReply({ event: EVENT.accepted, seq: 9, code: 0 }),
      encodeFirmata({ kind: 'digital', port: 0, value: 4 }),
    ]);
    const reference = new FirmataDecoder('board').push(bytes);
    expect(messages(reference)).toEqual([
      { kind: 'report-version', major: 2, minor: 5 },
      { kind: 'sysex', command: DISPENSER_SYSEX, data: [EVENT.accepted, 9, 0] },
      { kind: 'digital', port: 0, value: 4 },
    ]);
    expect(reference[0]).toMatchObject({ kind: 'error', error: { reason: 'stray-data', length: 2 } });
    expectEverySplit(() => new FirmataDecoder('board'), bytes, reference);
  });

  it('reports a message interrupted by a new status byte and keeps the new one', () => {
    const frames = new FirmataDecoder('host').push(Uint8Array.of(0xf4, 0x02, 0xf9));
    expect(frames).toEqual([
      { kind: 'error', error: expect.objectContaining({ reason: 'interrupted' }) },
      { kind: 'message', message: { kind: 'report-version' } },
    ]);
  });

  it('fuzz: 100,000 random and 100,000 mutated streams never throw; host messages round-trip', () => {
    fuzzDecoder({
      makeDecoder: () => new FirmataDecoder('host'),
      frame: hostMessage,
      encode: encodeFirmata,
      decoded: messages,
      expected: (message) => message,
      garbage: fc.array(seven, { maxLength: 10 }).map((bytes) => Uint8Array.from(bytes)),
    });
  }, 180_000);
});

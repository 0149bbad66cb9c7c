import { describe, expect, it } from 'vitest';
import { decodeResponse } from '../../../src/card/apdu.js';
import { openChipCryptogram } from '../../../src/card/bac.js';
import { AccessControlError, SecureMessagingError } from '../../../src/card/errors.js';
import { SecureMessaging } from '../../../src/card/sm.js';
import { encodeTlv } from '../../../src/card/tlv.js';

const keys = {
  ksEnc: Buffer.from('979EC13B1CBFE9DCD01AB0FED307EAE5', 'hex'),
  ksMac: Buffer.from('F1CB1F1FB5ADF208806B89DC579DC1F8', 'hex'),
  ssc: 41n,
};
const pair = () => ({ terminal: new SecureMessaging(keys), chip: new SecureMessaging(keys) });

function checkOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof SecureMessagingError) return error.check;
    throw error;
  }
  return 'accepted';
}

describe('secure messaging checks (ICAO 9303 part 11 §9.8)', () => {
  it('round-trips commands and responses, both sides keeping the SSC in step', () => {
    const { terminal, chip } = pair();
    for (let i = 0; i < 3; i++) {
      const command = chip.unwrapCommand(terminal.wrapCommand({ cla: 0, ins: 0xb0, p1: 0, p2: i, le: 1000 }));
      expect(command).toEqual({ cla: 0, ins: 0xb0, p1: 0, p2: i, le: 1000 });
      const answer = terminal.unwrapResponse(
        decodeResponse(chip.wrapResponse({ data: Buffer.alloc(i * 9, 7), sw: 0x9000 })),
      );
      expect(answer).toEqual({ data: Buffer.alloc(i * 9, 7), sw: 0x9000 });
    }
    expect(terminal.ssc).toBe(47n);
  });

  it('names the failed check: MAC, missing MAC, missing or mismatched status, replay', () => {
    const response = () => {
      const { terminal, chip } = pair();
      chip.unwrapCommand(terminal.wrapCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 4 }));
      return { terminal, bytes: chip.wrapResponse({ data: Buffer.from('60145F01', 'hex'), sw: 0x9000 }) };
    };
    const flipped = response();
    flipped.bytes[5]! ^= 1; // inside the cryptogram
    expect(checkOf(() => flipped.terminal.unwrapResponse(decodeResponse(flipped.bytes)))).toBe('mac');

    const noMac = response();
    expect(
      checkOf(() =>
        noMac.terminal.unwrapResponse({ data: noMac.bytes.subarray(0, noMac.bytes.length - 12), sw: 0x9000 }),
      ),
    ).toBe('missing-mac');

    const { terminal } = pair();
    terminal.wrapCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 4 });
    expect(
      checkOf(() => terminal.unwrapResponse({ data: encodeTlv(0x8e, Buffer.alloc(8)), sw: 0x9000 })),
    ).toBe('missing-status');

    const swapped = response();
    const decoded = decodeResponse(swapped.bytes);
    expect(checkOf(() => swapped.terminal.unwrapResponse({ ...decoded, sw: 0x6282 }))).toBe(
      'status-mismatch',
    );

    // the same valid response a second time: the SSC has moved on, so its MAC no longer verifies
    const replay = response();
    replay.terminal.unwrapResponse(decodeResponse(replay.bytes));
    expect(checkOf(() => replay.terminal.unwrapResponse(decodeResponse(replay.bytes)))).toBe('mac');
  });

  it('chip side refuses a command with a bad MAC', () => {
    const { terminal, chip } = pair();
    const command = terminal.wrapCommand({
      cla: 0,
      ins: 0xa4,
      p1: 2,
      p2: 0x0c,
      data: Buffer.from('011E', 'hex'),
    });
    command[command.length - 3]! ^= 0x80;
    expect(checkOf(() => chip.unwrapCommand(command))).toBe('mac');
  });

  it('BAC refuses a chip cryptogram with a wrong MAC or wrong nonces', () => {
    const kEnc = Buffer.from('AB94FDECF2674FDFB9B391F85D7F76F2', 'hex');
    const kMac = Buffer.from('7962D9ECE03D1ACD4C76089DCE131543', 'hex');
    const answer = Buffer.from(
      '46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449',
      'hex',
    );
    const rndIc = Buffer.from('4608F91988702212', 'hex');
    const rndIfd = Buffer.from('781723860C06C226', 'hex');
    const bad = Buffer.from(answer);
    bad[39]! ^= 1;
    expect(() => openChipCryptogram(kEnc, kMac, bad, rndIfd, rndIc)).toThrow(AccessControlError);
    // nonces swapped: the MAC verifies, the echo check does not
    expect(() => openChipCryptogram(kEnc, kMac, answer, rndIc, rndIfd)).toThrow(AccessControlError);
    expect(openChipCryptogram(kEnc, kMac, answer, rndIfd, rndIc).toString('hex').toUpperCase()).toBe(
      '0B4F80323EB3191CB04970CB4052790B',
    );
  });
});

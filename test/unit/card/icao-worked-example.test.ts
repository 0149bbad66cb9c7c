/**
 * ICAO Doc 9303 part 11 (8th ed.), Appendix D "Worked example: Basic Access Control" and
 * "Worked example: secure messaging" — every value below is the document's, byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { decodeResponse } from '../../../src/card/apdu.js';
import {
  bacKeySeed,
  bacSessionKeys,
  deriveKey,
  mrzInformation,
  mutualAuthenticateData,
  openChipCryptogram,
} from '../../../src/card/bac.js';
import { SecureMessaging, sscBytes } from '../../../src/card/sm.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
const key = { documentNumber: 'L898902C', dateOfBirth: '690806', dateOfExpiry: '940623' };

describe('ICAO 9303 part 11 Appendix D: BAC', () => {
  it('derives the key seed and the basic access keys (D.2)', () => {
    expect(mrzInformation(key)).toBe('L898902C<369080619406236');
    const seed = bacKeySeed(key);
    expect(seed.toString('hex').toUpperCase()).toBe('239AB9CB282DAF66231DC5A4DF6BFBAE');
    expect(deriveKey(seed, 1).toString('hex').toUpperCase()).toBe('AB94FDECF2674FDFB9B391F85D7F76F2');
    expect(deriveKey(seed, 2).toString('hex').toUpperCase()).toBe('7962D9ECE03D1ACD4C76089DCE131543');
  });

  const kEnc = hex('AB94FDECF2674FDFB9B391F85D7F76F2');
  const kMac = hex('7962D9ECE03D1ACD4C76089DCE131543');
  const rndIc = hex('4608F91988702212');
  const rndIfd = hex('781723860C06C226');
  const kIfd = hex('0B795240CB7049B01C19B33E32804F0B');

  it('builds the MUTUAL AUTHENTICATE command data E_IFD ‖ M_IFD (D.3)', () => {
    expect(mutualAuthenticateData(kEnc, kMac, rndIfd, rndIc, kIfd).toString('hex').toUpperCase()).toBe(
      '72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2' + '5F1448EEA8AD90A7',
    );
  });

  it('opens the chip response, derives session keys and the SSC (D.3)', () => {
    const response = hex(
      '46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F' + '2F2D235D074D7449',
    );
    const kIc = openChipCryptogram(kEnc, kMac, response, rndIfd, rndIc);
    expect(kIc.toString('hex').toUpperCase()).toBe('0B4F80323EB3191CB04970CB4052790B');
    const session = bacSessionKeys(kIfd, kIc, rndIc, rndIfd);
    expect(session.ksEnc.toString('hex').toUpperCase()).toBe('979EC13B1CBFE9DCD01AB0FED307EAE5');
    expect(session.ksMac.toString('hex').toUpperCase()).toBe('F1CB1F1FB5ADF208806B89DC579DC1F8');
    expect(sscBytes(session.ssc).toString('hex').toUpperCase()).toBe('887022120C06C226');
  });
});

describe('ICAO 9303 part 11 Appendix D: secure messaging (D.4)', () => {
  const keys = {
    ksEnc: hex('979EC13B1CBFE9DCD01AB0FED307EAE5'),
    ksMac: hex('F1CB1F1FB5ADF208806B89DC579DC1F8'),
    ssc: 0x887022120c06c226n,
  };

  it('protects SELECT EF.COM, READ BINARY 4 and READ BINARY 18 and opens the answers', () => {
    const sm = new SecureMessaging(keys);
    // SELECT EF.COM: 00 A4 02 0C 02 01 1E
    const select = sm.wrapCommand({ cla: 0, ins: 0xa4, p1: 0x02, p2: 0x0c, data: hex('011E') });
    expect(select.toString('hex').toUpperCase()).toBe(
      '0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800',
    );
    const selectAnswer = sm.unwrapResponse(decodeResponse(hex('990290008E08FA855A5D4C50A8ED9000')));
    expect(selectAnswer.sw).toBe(0x9000);
    expect(selectAnswer.data.length).toBe(0);

    // READ BINARY of the first four bytes: 00 B0 00 00 04
    const read4 = sm.wrapCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 4 });
    expect(read4.toString('hex').toUpperCase()).toBe('0CB000000D9701048E08ED6705417E96BA5500');
    const read4Answer = sm.unwrapResponse(
      decodeResponse(hex('8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000')),
    );
    expect(read4Answer.data.toString('hex').toUpperCase()).toBe('60145F01');

    // READ BINARY of the remaining 18 bytes from offset 4: 00 B0 00 04 12
    const read18 = sm.wrapCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 4, le: 0x12 });
    expect(read18.toString('hex').toUpperCase()).toBe('0CB000040D9701128E082EA28A70F3C7B53500');
    const read18Answer = sm.unwrapResponse(
      decodeResponse(
        hex('871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000'),
      ),
    );
    expect(read18Answer.data.toString('hex').toUpperCase()).toBe('04303130365F36063034303030305C026175');
    expect(sscBytes(sm.ssc).toString('hex').toUpperCase()).toBe('887022120C06C22C');
  });
});

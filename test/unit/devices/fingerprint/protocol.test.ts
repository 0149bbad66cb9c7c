import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksum,
  commands,
  DEFAULT_ADDRESS,
  dataPackets,
  decodeSystemParameters,
  encodePacket,
  encodeSystemParameters,
  type FingerprintFrame,
  PacketDecoder,
  PID,
} from '../../../../devices/fingerprint/protocol.js';
import { expectEverySplit, fuzzDecoder } from '../../../helpers/codec-fuzz.js';

describe('fingerprint packet codec', () => {
  it('encodes the manual example for GenImg byte for byte', () => {
    // R307 manual: GenImg = EF01 FFFFFFFF 01 0003 01 0005
    expect(commands.genImg().toString('hex')).toBe('ef01ffffffff010003010005');
    expect(checksum(0x01, 0x0003, Buffer.from([0x01]))).toBe(0x0005);
  });

  it('decodes packets split at every byte offset, with garbage between them', () => {
    const a = commands.search(1, 0, 200);
    const b = dataPackets(Buffer.alloc(300, 7), 128);
    const bytes = Buffer.concat([Buffer.from([0x00, 0xef, 0x13]), a, ...b]);
    const decoded = (frames: FingerprintFrame[]) => frames;
    const reference = decoded(new PacketDecoder().push(bytes));
    expect(reference.filter((f) => f.kind === 'packet')).toHaveLength(4);
    expect(reference[0]).toMatchObject({ kind: 'error', error: { reason: 'garbage', length: 3 } });
    expectEverySplit(() => new PacketDecoder(), bytes, reference);
  });

  it('rejects a bad checksum and resynchronises on the next header', () => {
    const bad = Buffer.from(commands.empty());
    bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1);
    const frames = new PacketDecoder().push(Buffer.concat([bad, commands.genImg()]));
    expect(frames[0]).toMatchObject({ kind: 'error', error: { reason: 'checksum' } });
    expect(frames.at(-1)).toMatchObject({ kind: 'packet', packet: { pid: PID.command } });
  });

  it('round-trips the system parameters', () => {
    const parameters = {
      statusRegister: 4,
      systemId: 9,
      librarySize: 1000,
      securityLevel: 5,
      address: DEFAULT_ADDRESS,
      packetSize: 256,
      baudRate: 57600,
    };
    expect(decodeSystemParameters(Buffer.from(encodeSystemParameters(parameters)))).toEqual(parameters);
  });

  it('fuzz: 100,000 random and 100,000 mutated streams never throw; valid packets round-trip', () => {
    const packet = fc.record({
      address: fc.integer({ min: 0, max: 0xffffffff }),
      pid: fc.constantFrom(PID.command, PID.data, PID.ack, PID.endData),
      payload: fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)),
    });
    fuzzDecoder({
      makeDecoder: () => new PacketDecoder(),
      frame: packet,
      encode: encodePacket,
      decoded: (frames) => frames.flatMap((frame) => (frame.kind === 'packet' ? [frame.packet] : [])),
      expected: (value) => value,
      garbage: fc
        .uint8Array({ maxLength: 20 })
        .map((bytes) => Uint8Array.from(bytes, (b) => (b === 0xef ? 0 : b))),
    });
  }, 180_000);
});

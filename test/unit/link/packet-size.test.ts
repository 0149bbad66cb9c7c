/**
 * The kiosk's early packet-size check follows packet boundaries as mqtt-packet (the encoder mqtt.js
 * uses, a third-party implementation of the MQTT framing) writes them, across any chunking.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { MALFORMED_LENGTH, PacketSizeTracker } from '../../../src/link/packet-size.js';

const publish = (payloadBytes: number, protocolVersion: 4 | 5) =>
  mqttPacket.generate(
    {
      cmd: 'publish',
      topic: 'cccd/v1/kiosk/hn-0042/cmd',
      payload: Buffer.alloc(payloadBytes, 0x61),
      qos: 1,
      messageId: 7,
      dup: false,
      retain: false,
    },
    { protocolVersion },
  );

/** Splits `bytes` at the given fractions into consecutive chunks. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => Math.floor(cut * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

describe('PacketSizeTracker', () => {
  it('passes packets up to the limit and names the first larger one, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom(4 as const, 5 as const),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        fc.integer({ min: 100, max: 20_100 }),
        (payloads, protocolVersion, cuts, limit) => {
          const packets = payloads.map((bytes) => publish(bytes, protocolVersion));
          const tracker = new PacketSizeTracker(limit);
          let reported: number | undefined;
          for (const chunk of chunked(Buffer.concat(packets), cuts)) {
            reported = tracker.push(chunk);
            if (reported !== undefined) break;
          }
          expect(reported).toBe(packets.find((packet) => packet.length > limit)?.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports a 100 MB PUBLISH from its first five bytes, before any of its body', () => {
    // fixed header of a PUBLISH declaring 100,000,000 bytes: 0x32, then the remaining length
    const header = Buffer.from([0x32, 0x80, 0xc2, 0xd7, 0x2f]);
    expect(new PacketSizeTracker(266_240).push(header)).toBe(5 + 100_000_000);
  });

  it('reports a remaining length of more than four bytes as malformed', () => {
    expect(new PacketSizeTracker(266_240).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toBe(
      MALFORMED_LENGTH,
    );
  });
});

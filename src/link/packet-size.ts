/**
 * The kiosk's cap on what the broker may send it. MQTT 5 tells the broker (CONNECT property
 * Maximum Packet Size), which then never sends a larger packet. MQTT 3.1.1 has no such property
 * and mqtt.js checks a packet's size only once it is buffered whole, so `guardPacketSize` reads
 * each packet's fixed header as the bytes arrive and closes the connection when the declared size
 * is too large, before the body is buffered.
 */
import type { MqttClient } from 'mqtt';
import { MAX_PAYLOAD_BYTES } from './messages.js';

/** Largest packet in either direction: a full payload plus room for the topic and properties.
 * deploy/mosquitto/cccd-kiosk.conf sets the same `max_packet_size`. */
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 4096;

/** A remaining-length field longer than 4 bytes is malformed (MQTT 3.1.1 §2.2.3, 5.0 §1.5.5). */
export const MALFORMED_LENGTH = Number.POSITIVE_INFINITY;

/**
 * Follows packet boundaries in an MQTT byte stream. `push` returns the declared total size of the
 * first packet larger than `limit` (MALFORMED_LENGTH for a malformed length), or undefined.
 */
export class PacketSizeTracker {
  /** body bytes of the current packet still to pass */
  private bodyLeft = 0;
  /** the fixed header read so far: type byte, then remaining-length bytes */
  private header: number[] = [];

  constructor(private readonly limit: number) {}

  push(chunk: Uint8Array): number | undefined {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.bodyLeft > 0) {
        const passed = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= passed;
        offset += passed;
        continue;
      }
      const byte = chunk[offset++] ?? 0;
      this.header.push(byte);
      if (this.header.length === 1) continue;
      if (byte & 0x80) {
        if (this.header.length === 5) return MALFORMED_LENGTH;
        continue;
      }
      const remaining = this.header
        .slice(1)
        .reduce((sum, lengthByte, index) => sum + (lengthByte & 0x7f) * 128 ** index, 0);
      const total = this.header.length + remaining;
      this.header = [];
      if (total > this.limit) return total;
      this.bodyLeft = remaining;
    }
    return undefined;
  }
}

/**
 * Watches every connection `client` makes (mqtt.js opens a new stream on each reconnect) and
 * destroys it at the first packet declared larger than `limit`; `onOversized` is told its size.
 */
export function guardPacketSize(
  client: MqttClient,
  limit: number,
  onOversized: (declaredBytes: number) => void,
): void {
  const watched = new WeakSet<object>();
  const watch = () => {
    const stream = client.stream;
    if (!stream || watched.has(stream)) return;
    watched.add(stream);
    const tracker = new PacketSizeTracker(limit);
    stream.on('data', (chunk: Buffer) => {
      const oversized = tracker.push(chunk);
      if (oversized === undefined) return;
      onOversized(oversized);
      stream.destroy();
    });
  };
  watch();
  client.on('connect', watch);
}

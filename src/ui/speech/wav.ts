/**
 * The little of RIFF/WAVE the speech service needs. espeak-ng writes its WAV to stdout as a
 * stream, so the header's sizes are placeholders (0x7ffff000); browsers cope, but a clip with
 * true sizes is what a WAV reader (and the test) can check.
 */
export interface PcmClip {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** the `data` chunk */
  data: Buffer;
}

/** Reads a PCM WAV; undefined when it is not one (bad magic, no fmt or data chunk). */
export function readWav(wav: Buffer): PcmClip | undefined {
  if (wav.length < 12 || wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE')
    return undefined;
  let format: Omit<PcmClip, 'data'> | undefined;
  for (let at = 12; at + 8 <= wav.length;) {
    const id = wav.toString('ascii', at, at + 4);
    const declared = wav.readUInt32LE(at + 4);
    const body = at + 8;
    // a streamed header declares more than there is: the data runs to the end
    const size = Math.min(declared, wav.length - body);
    if (id === 'fmt ' && size >= 16) {
      if (wav.readUInt16LE(body) !== 1) return undefined; // PCM only
      format = {
        channels: wav.readUInt16LE(body + 2),
        sampleRate: wav.readUInt32LE(body + 4),
        bitsPerSample: wav.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      return format ? { ...format, data: wav.subarray(body, body + size) } : undefined;
    }
    at = body + size + (size % 2);
  }
  return undefined;
}

/** A canonical 44-byte-header WAV with the true sizes. */
export function writeWav(clip: PcmClip): Buffer {
  const header = Buffer.alloc(44);
  const blockAlign = (clip.channels * clip.bitsPerSample) / 8;
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + clip.data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(clip.channels, 22);
  header.writeUInt32LE(clip.sampleRate, 24);
  header.writeUInt32LE(clip.sampleRate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(clip.bitsPerSample, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(clip.data.length, 40);
  return Buffer.concat([header, clip.data]);
}

/** The loudest 16-bit sample's magnitude, 0…32768 (0 = silence). */
export function peakAmplitude(clip: PcmClip): number {
  if (clip.bitsPerSample !== 16) throw new Error('peakAmplitude: 16-bit PCM only');
  let peak = 0;
  for (let at = 0; at + 1 < clip.data.length; at += 2)
    peak = Math.max(peak, Math.abs(clip.data.readInt16LE(at)));
  return peak;
}

/** Length in milliseconds. */
export function durationMs(clip: PcmClip): number {
  const bytesPerSecond = (clip.sampleRate * clip.channels * clip.bitsPerSample) / 8;
  return bytesPerSecond > 0 ? (clip.data.length / bytesPerSecond) * 1000 : 0;
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpeechError } from '../../../src/ui/speech/espeak.js';
import { CLIPS } from '../../../src/ui/speech/phrases.js';
import { SpeechService, type Synthesiser } from '../../../src/ui/speech/service.js';
import { peakAmplitude, readWav, writeWav } from '../../../src/ui/speech/wav.js';
import { capturingLogger } from '../../helpers/logs.js';

const CONFIG = { enabled: true, volume: 100, wordsPerMinute: 150 };

/** A stand-in synthesiser that records what it was asked to say (the real one: integration test). */
function recording(fail?: (text: string) => boolean) {
  const said: string[] = [];
  const synthesiser: Synthesiser = async (text) => {
    said.push(text);
    if (fail?.(text)) throw new SpeechError('speech: espeak-ng (vi) exited 1');
    return writeWav({
      sampleRate: 22050,
      channels: 1,
      bitsPerSample: 16,
      data: Buffer.from([0, 16, 0, 240]),
    });
  };
  return { said, synthesiser };
}

describe('speech service', () => {
  it('renders a static clip once and keeps it', async () => {
    const { said, synthesiser } = recording();
    const service = new SpeechService(CONFIG, capturingLogger().log, synthesiser);
    const first = await service.clip('vi', 'screen.finger');
    expect(await service.clip('vi', 'screen.finger')).toBe(first);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('ngón trỏ');
  });

  it('spells a code every time it is asked and keeps none of it', async () => {
    const { said, synthesiser } = recording();
    const service = new SpeechService(CONFIG, capturingLogger().log, synthesiser);
    await service.code('en', 'U-7K3Q9ABC');
    await service.code('en', 'U-7K3Q9ABC');
    expect(said).toEqual([
      'you, dash, seven kay three, cue nine ay, bee see.',
      'you, dash, seven kay three, cue nine ay, bee see.',
    ]);
  });

  it('gives the synthesiser no digit, ever', async () => {
    const { said, synthesiser } = recording();
    const service = new SpeechService(CONFIG, capturingLogger().log, synthesiser);
    await service.prerender();
    expect(said).toHaveLength(CLIPS.size * 2);
    for (const text of said) expect(text).not.toMatch(/\d/);
  });

  it('renders at most two at once, and a clip the page waits for before the background ones', async () => {
    let running = 0;
    let most = 0;
    const order: string[] = [];
    const synthesiser: Synthesiser = async (text) => {
      running++;
      most = Math.max(most, running);
      order.push(text);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return Buffer.alloc(0);
    };
    const service = new SpeechService(CONFIG, capturingLogger().log, synthesiser);
    const background = service.prerender();
    await new Promise((resolve) => setImmediate(resolve));
    const urgent = service.clip('en', 'message.status.not-found');
    await Promise.all([background, urgent]);
    expect(most).toBeLessThanOrEqual(2);
    // the urgent clip did not wait for the background queue to reach it
    expect(order.indexOf('No request was found with this code.')).toBeLessThan(5);
  });

  it('logs a failed clip by id, does not keep the failure, and tries again', async () => {
    let failing = true;
    const { said, synthesiser } = recording(() => failing);
    const capture = capturingLogger();
    const service = new SpeechService(CONFIG, capture.log, synthesiser);
    await expect(service.clip('vi', 'screen.receipt')).rejects.toThrow(SpeechError);
    failing = false;
    expect(await service.clip('vi', 'screen.receipt')).toBeDefined();
    expect(said).toHaveLength(2);
    await service.code('vi', 'R-4F2');
    expect(capture.text()).not.toContain('R-4F2');
  });
});

it('stops rendering in the background when espeak-ng does not work, and says so once', async () => {
  const { said, synthesiser } = recording(() => true);
  const capture = capturingLogger();
  const service = new SpeechService(CONFIG, capture.log, synthesiser);
  expect(await service.prerender()).toEqual({ rendered: 0, failed: 3 });
  expect(said).toHaveLength(3);
  expect(capture.lines().filter((line) => line.includes('cannot speak'))).toHaveLength(1);
});

describe('wav', () => {
  it('reads a streamed espeak-ng header (placeholder sizes) and writes the true ones', () => {
    const data = Buffer.from([0, 0, 0x10, 0x27, 0xf0, 0xd8]);
    const streamed = writeWav({ sampleRate: 22050, channels: 1, bitsPerSample: 16, data });
    streamed.writeUInt32LE(0x7ffff000, 4);
    streamed.writeUInt32LE(0x7ffff000, 40);
    const clip = readWav(streamed);
    expect(clip?.data).toEqual(data);
    expect(clip && peakAmplitude(clip)).toBe(10000);
    expect(clip && writeWav(clip).readUInt32LE(40)).toBe(6);
    expect(readWav(Buffer.from('RIFF....WAVX'))).toBeUndefined();
    expect(readWav(Buffer.alloc(3))).toBeUndefined();
  });

  it('never throws on any bytes (fuzz), and finds the data of any valid header it is given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const wav = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.from(bytes)]);
        expect(() => readWav(wav)).not.toThrow();
        expect(() => readWav(Buffer.from(bytes))).not.toThrow();
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const data = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2)));
        expect(readWav(writeWav({ sampleRate: 22050, channels: 1, bitsPerSample: 16, data }))?.data).toEqual(
          data,
        );
      }),
    );
  });
});

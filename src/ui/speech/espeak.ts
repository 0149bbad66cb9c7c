/**
 * Text → WAV through espeak-ng (Debian package espeak-ng), offline. One child process per clip:
 * the text goes in on stdin (never on the command line, where `ps` shows it), the WAV comes back
 * on stdout, in memory; nothing is written to disk. Bounded: a time limit (the process is killed)
 * and a size limit on its output. Errors name the voice, never the text.
 */
import { spawn } from 'node:child_process';
import type { SpeechLang } from './normalise.js';
import { readWav, writeWav } from './wav.js';

export interface EspeakOptions {
  /** espeak-ng amplitude, 0–200 (100 is espeak-ng's default) */
  amplitude: number;
  /** words per minute */
  wordsPerMinute: number;
  timeoutMs?: number;
  /** the espeak-ng binary (tests use the real one; a kiosk may name an absolute path) */
  binary?: string;
}

/** espeak-ng's voice per language: Vietnamese (Northern) and British English. */
export const VOICES: Record<SpeechLang, string> = { vi: 'vi', en: 'en-gb' };

/** 8 MiB is about three minutes of 22 kHz 16-bit speech: far beyond any kiosk sentence. */
const MAX_WAV_BYTES = 8 * 1024 * 1024;
/** espeak-ng is fed short sentences; longer text is a bug upstream, not something to speak. */
export const MAX_TEXT_CHARS = 600;

export class SpeechError extends Error {
  override readonly name = 'SpeechError';
}

export function synthesise(text: string, lang: SpeechLang, options: EspeakOptions): Promise<Buffer> {
  if (text.length === 0 || text.length > MAX_TEXT_CHARS)
    return Promise.reject(new SpeechError(`speech: text of ${text.length} characters refused`));
  const args = [
    '-v',
    VOICES[lang],
    '-a',
    String(options.amplitude),
    '-s',
    String(options.wordsPerMinute),
    '-b',
    '1', // the text is UTF-8
    '--stdout',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(options.binary ?? 'espeak-ng', args, { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: SpeechError | undefined;
    const fail = (reason: string) => {
      failure ??= new SpeechError(`speech: espeak-ng (${VOICES[lang]}) ${reason}`);
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => fail('took too long'), options.timeoutMs ?? 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WAV_BYTES) fail('wrote too much');
      else chunks.push(chunk);
    });
    child.stdin.on('error', () => undefined); // the process died: reported by 'close'
    child.on('error', (error) => {
      failure ??= new SpeechError(
        `speech: espeak-ng could not run (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code !== 0)
        return reject(new SpeechError(`speech: espeak-ng (${VOICES[lang]}) exited ${code ?? signal}`));
      const clip = readWav(Buffer.concat(chunks));
      if (!clip || clip.data.length === 0)
        return reject(new SpeechError(`speech: espeak-ng (${VOICES[lang]}) wrote no audio`));
      resolve(writeWav(clip));
    });
    child.stdin.end(text, 'utf8');
  });
}

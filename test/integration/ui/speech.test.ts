/**
 * Audio guidance (issue 15, "What it must show" 3): every screen and message key of the web app
 * has spoken text in Vietnamese and English, and every clip comes out of the real synthesiser
 * (Debian's espeak-ng, run as the kiosk runs it) as a valid, non-silent WAV. Then the UI server
 * serves them, spells a code on demand, and logs no code.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SCREENS } from '../../../src/kiosk/view.js';
import { UiServer } from '../../../src/ui/server.js';
import { CLIPS, MAX_ATTEMPTS_SPOKEN } from '../../../src/ui/speech/phrases.js';
import { SPEECH_LANGS, SpeechService } from '../../../src/ui/speech/service.js';
import { durationMs, peakAmplitude, readWav } from '../../../src/ui/speech/wav.js';
import { capturingLogger, quietLogger } from '../../helpers/logs.js';
import { ViewFeeder } from '../../helpers/view-feeder.js';

const MESSAGE_NAMESPACES = 'finger|identify|referral|out-of-service|update|status|card';
/**
 * Labels of a screen, shown in writing and spoken as part of `screen.<screen>`; and `finger.lift`,
 * shown for the view's `liftFinger` and spoken as the `finger.lift` clip.
 */
const LABEL_SUFFIXES = new Set([
  'title',
  'hint',
  'or',
  'submit',
  'attempts',
  'reference',
  'edit',
  'status-placeholder',
  'status-go',
  'lift',
]);

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourcesUnder(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/**
 * The message keys the web app can show: every key literal of a message namespace in the
 * sessions' sources (what the kiosk puts in `messageKey` / `reasonKey`), and every message of the
 * app's own text table (src/ui/public/app.js: the page's own checks, e.g. an invalid phone number).
 */
function messageKeys(): string[] {
  const keys = new Set<string>();
  const literal = new RegExp(`'((?:${MESSAGE_NAMESPACES})\\.[a-z-]+)'`, 'g');
  for (const file of sourcesUnder('src/kiosk'))
    for (const match of readFileSync(file, 'utf8').matchAll(literal)) keys.add(match[1] ?? '');
  const app = readFileSync('src/ui/public/app.js', 'utf8');
  for (const match of app.matchAll(new RegExp(`^\\s+'((?:${MESSAGE_NAMESPACES})\\.([a-z-]+))':`, 'gm')))
    if (!LABEL_SUFFIXES.has(match[2] ?? '')) keys.add(match[1] ?? '');
  keys.delete('');
  return [...keys].sort();
}

describe('spoken text', () => {
  it('exists in both languages for every screen, message and step of the web app', () => {
    const keys = messageKeys();
    expect(keys).toContain('finger.no-match'); // the scan found the keys
    const needed = [
      ...SCREENS.map((screen) => `screen.${screen}`),
      ...keys.map((key) => `message.${key}`),
      // what src/ui/public/speech.js asks for besides: variants, the finger step, the codes' intros
      'screen.receipt.not-printed',
      'screen.update-done.not-printed',
      'finger.lift',
      'more-time',
      ...['receipt', 'update-done', 'referral'].map((screen) => `code.intro.${screen}`),
      ...Array.from({ length: MAX_ATTEMPTS_SPOKEN }, (_, index) => `finger.attempts.${index + 1}`),
    ];
    const missing = needed.filter((id) => !CLIPS.has(id));
    expect(missing).toEqual([]);
    for (const [id, spoken] of CLIPS) {
      expect(spoken.vi.trim(), id).not.toBe('');
      expect(spoken.en.trim(), id).not.toBe('');
      expect(spoken.vi, `${id} is not translated`).not.toBe(spoken.en);
    }
  });
});

describe('clips from espeak-ng', () => {
  let service: SpeechService;
  beforeAll(() => {
    // the real synthesiser, the Debian package the kiosk installs (scripts/ensure-deps.sh)
    expect(execFileSync('espeak-ng', ['--version'], { encoding: 'utf8' })).toMatch(/eSpeak NG/);
    service = new SpeechService({ enabled: true, volume: 100, wordsPerMinute: 150 }, quietLogger());
  });

  it('renders every clip in both languages as a valid, non-silent WAV', async () => {
    expect(await service.prerender()).toEqual({ rendered: CLIPS.size * SPEECH_LANGS.length, failed: 0 });
    for (const id of CLIPS.keys())
      for (const lang of SPEECH_LANGS) {
        const wav = await service.clip(lang, id);
        const clip = wav && readWav(wav);
        expect(clip, `${lang} ${id}`).toBeDefined();
        if (!clip) continue;
        // espeak-ng's own format: 22.05 kHz, 16-bit mono PCM, with the header's sizes set
        expect([clip.sampleRate, clip.channels, clip.bitsPerSample]).toEqual([22050, 1, 16]);
        expect(wav.readUInt32LE(40)).toBe(clip.data.length);
        expect(durationMs(clip), `${lang} ${id}`).toBeGreaterThan(300);
        expect(peakAmplitude(clip), `${lang} ${id} is silent`).toBeGreaterThan(2000);
      }
  });

  it('spells a code on demand and refuses anything that is not a code', async () => {
    const wav = await service.code('vi', 'U-7K3Q9ABC');
    const clip = wav && readWav(wav);
    expect(clip && peakAmplitude(clip)).toBeGreaterThan(2000);
    // a dash and three groups spelled one by one take seconds, not a blurted word
    expect(clip && durationMs(clip)).toBeGreaterThan(3000);
    for (const junk of ['', 'u-7k3', 'Nguyễn Văn A', 'A'.repeat(13), '001203004567 ; rm -rf /'])
      expect(await service.code('en', junk)).toBeUndefined();
    expect(await service.clip('en', 'no.such-clip')).toBeUndefined();
  });

  it('says nothing when speech is off in the config', async () => {
    const off = new SpeechService({ enabled: false, volume: 100, wordsPerMinute: 150 }, quietLogger());
    expect(await off.prerender()).toEqual({ rendered: 0, failed: 0 });
    expect(await off.clip('vi', 'screen.attract')).toBeUndefined();
  });

  it('follows the configured volume', async () => {
    const quiet = new SpeechService({ enabled: true, volume: 20, wordsPerMinute: 150 }, quietLogger());
    const loudClip = readWav((await service.clip('en', 'screen.finger')) ?? Buffer.alloc(0));
    const quietClip = readWav((await quiet.clip('en', 'screen.finger')) ?? Buffer.alloc(0));
    expect(loudClip && quietClip).toBeTruthy();
    if (loudClip && quietClip) expect(peakAmplitude(quietClip)).toBeLessThan(peakAmplitude(loudClip) / 2);
  });
});

describe('the UI server', () => {
  const running: UiServer[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop()));
  });

  it('serves the clips and a spelled code, lets the page play them, and logs no code', async () => {
    const capture = capturingLogger();
    const server = new UiServer({
      host: '127.0.0.1',
      port: 0,
      log: capture.log,
      status: () => ({ kioskId: 'k-1', version: '0.0.0', startedAt: 'now', parts: { ui: { state: 'up' } } }),
      sessions: new ViewFeeder(),
      speech: { enabled: true, volume: 100, wordsPerMinute: 150 },
    });
    running.push(server);
    await server.start();
    const page = await (await fetch(`${server.url}/`)).text();
    expect(page).toContain('src="/speech.js"');
    expect(page).toContain('data-speech="on"');
    expect((await fetch(`${server.url}/speech.js`)).status).toBe(200);

    const clip = await fetch(`${server.url}/speech/vi/screen.finger.wav`);
    expect(clip.status).toBe(200);
    expect(clip.headers.get('content-type')).toBe('audio/wav');
    expect(clip.headers.get('content-security-policy')).toContain("media-src 'self'");
    expect(readWav(Buffer.from(await clip.arrayBuffer()))).toBeDefined();

    const code = await fetch(`${server.url}/speech/en/code.wav?code=R-4F2ZQ`);
    expect(code.status).toBe(200);
    expect(code.headers.get('cache-control')).toBe('no-store');
    expect(readWav(Buffer.from(await code.arrayBuffer()))).toBeDefined();

    for (const path of [
      '/speech/fr/screen.finger.wav',
      '/speech/vi/..%2Fapp.js.wav',
      '/speech/vi/code.wav?code=x y',
    ])
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
    expect(capture.text()).not.toContain('R-4F2ZQ');
  });

  it('without speech, tells the page not to ask for clips, and has none', async () => {
    const server = new UiServer({
      host: '127.0.0.1',
      port: 0,
      log: quietLogger(),
      status: () => ({ kioskId: 'k-1', version: '0.0.0', startedAt: 'now', parts: { ui: { state: 'up' } } }),
      sessions: new ViewFeeder(),
      speech: { enabled: false, volume: 100, wordsPerMinute: 150 },
    });
    running.push(server);
    await server.start();
    expect(await (await fetch(`${server.url}/`)).text()).not.toContain('data-speech');
    expect((await fetch(`${server.url}/speech/vi/screen.attract.wav`)).status).toBe(404);
  });
});

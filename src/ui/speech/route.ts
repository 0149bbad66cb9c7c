/**
 * `GET /speech/{vi|en}/{clip}.wav`: a static clip (src/ui/speech/phrases.ts), kept by the browser
 * for the session of the page; `GET /speech/{vi|en}/code.wav?code=U-7K3Q9ABC`: a code spelled
 * out, rendered on demand and stored nowhere (not by the server, not by the browser).
 */
import type { SpeechLang } from './normalise.js';
import { CLIP_ID } from './phrases.js';
import type { SpeechService } from './service.js';

export interface SpeechReply {
  status: 200;
  type: 'audio/wav';
  body: Buffer;
  cacheControl: string;
}

const SPEECH_PATH = /^\/speech\/(vi|en)\/([^/]+)\.wav$/;

/** The reply to a `/speech/…` request; undefined (404) for anything that is not a clip. */
export async function speechReply(speech: SpeechService, url: string): Promise<SpeechReply | undefined> {
  const parsed = new URL(url, 'http://kiosk.invalid');
  const match = SPEECH_PATH.exec(parsed.pathname);
  const lang = match?.[1] as SpeechLang | undefined;
  const id = match?.[2];
  if (!lang || !id || !CLIP_ID.test(id)) return undefined;
  if (id === 'code') {
    const body = await speech.code(lang, parsed.searchParams.get('code') ?? '');
    return body && { status: 200, type: 'audio/wav', body, cacheControl: 'no-store' };
  }
  const body = await speech.clip(lang, id);
  return body && { status: 200, type: 'audio/wav', body, cacheControl: 'private, max-age=86400' };
}

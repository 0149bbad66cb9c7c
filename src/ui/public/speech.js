/* Audio guidance of the touchscreen app (issue 15, EN 301 549 §5.1): the app calls
 * `window.kioskSpeech.say(key, params)` on each new screen or message, and again with
 * `repeat: true` from the "Nghe lại / Repeat" button or the keypad's help key. This module turns
 * that into the clips the kiosk's speech service renders with espeak-ng (src/ui/speech/*) and plays
 * them one after the other through one <audio> element; a new screen interrupts the old speech.
 *
 * key: the screen (`body[data-screen]`) or "more-time"; params: { lang, messageKey, n (attempts
 * left), code (receipt/tracking/reference code), printed (false: the receipt was not printed),
 * liftFinger, repeat }. Static clips come from the server's memory (and the browser's cache); a
 * code is fetched on demand and never cached.
 *
 * `window.__kioskSpeechStarted` = { seq, key, at } when the first clip of a say starts playing
 * (the `playing` event): bench/session measures screen shown → speech starts from it. */
/* global window, document, Audio, performance */

const CODE_SCREENS = ['receipt', 'update-done', 'referral'];
const MAX_ATTEMPTS_SPOKEN = 10;

/** The clip URLs one announcement is made of, in order. */
function clipUrls(key, params) {
  const lang = params.lang === 'en' ? 'en' : 'vi';
  const url = (id) => `/speech/${lang}/${id}.wav`;
  if (key === 'more-time') return [url('more-time')];
  if (key === 'connecting') return [];
  const ids = [];
  if (key === 'finger' && params.liftFinger) ids.push('finger.lift');
  else if ((key === 'receipt' || key === 'update-done') && params.printed === false)
    ids.push(`screen.${key}.not-printed`);
  else ids.push(`screen.${key}`);
  if (params.messageKey) ids.push(`message.${params.messageKey}`);
  const attempts = Number(params.n);
  if (key === 'finger' && Number.isInteger(attempts) && attempts >= 1 && attempts <= MAX_ATTEMPTS_SPOKEN)
    ids.push(`finger.attempts.${attempts}`);
  const urls = ids.map(url);
  if (CODE_SCREENS.includes(key) && typeof params.code === 'string' && params.code) {
    urls.push(url(`code.intro.${key}`));
    urls.push(`/speech/${lang}/code.wav?code=${encodeURIComponent(params.code)}`);
  }
  return urls;
}

const audio = new Audio();
audio.preload = 'auto';
let playing = { token: 0, urls: [], index: 0, started: false, seq: 0, key: '' };

function playNext(token) {
  if (token !== playing.token) return;
  const next = playing.urls[playing.index++];
  if (!next) return;
  audio.src = next;
  audio.play().catch(() => {
    // autoplay refused or the clip is missing: guidance is never a reason for the screen to fail
  });
}

audio.addEventListener('playing', () => {
  if (playing.started) return;
  playing.started = true;
  window.__kioskSpeechStarted = {
    seq: playing.seq,
    key: playing.key,
    at: performance.timeOrigin + performance.now(),
  };
});
audio.addEventListener('ended', () => playNext(playing.token));
// a clip without text (404) or that failed: go on with the rest
audio.addEventListener('error', () => playNext(playing.token));

window.kioskSpeech = {
  say(key, params) {
    // the kiosk has speech off (config ui.speech.enabled) or no speech service: ask for nothing
    if (document.body.getAttribute('data-speech') !== 'on') return;
    const urls = clipUrls(String(key), params ?? {});
    audio.pause();
    playing = {
      token: playing.token + 1,
      urls,
      index: 0,
      started: false,
      seq: Number(document.body.getAttribute('data-seq') ?? 0),
      key: String(key),
    };
    playNext(playing.token);
  },
  stop() {
    playing = { ...playing, token: playing.token + 1, urls: [] };
    audio.pause();
  },
};

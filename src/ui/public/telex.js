/* Vietnamese Telex input for the on-screen keyboard: a pure engine, no DOM. `telexKey(text, key)`
 * returns the text after one key press, so `Nguyeenx` typed key by key gives `Nguyễn`.
 *
 * The rules (as Unikey and the phone keyboards apply them):
 * - aa â, ee ê, oo ô, aw ă, ow ơ, uw ư, uow/uwo ươ, w alone ư, dd đ;
 * - tones s sắc, f huyền, r hỏi, x ngã, j nặng, z removes the tone;
 * - the same key twice undoes the mark and types the letter ("aaa" → "aa", "ass" → "as");
 * - the tone sits on the syllable's vowel by the traditional rule: a vowel with a shape mark
 *   (â ê ô ơ ă ư) takes it; else the only vowel; else the last vowel before a final consonant;
 *   else the middle of three or the first of two ("hòa", "mùa", "ngoài"). "qu" and "gi" before
 *   another vowel count as consonants.
 * Only the last word (letters after the last non-letter) is ever changed. */

const TONE_OF_KEY = { s: '\u0301', f: '\u0300', r: '\u0309', x: '\u0303', j: '\u0323' };
const TONE_MARKS = /[\u0300\u0301\u0303\u0309\u0323]/gu;
const SHAPE_MARKS = /[\u0302\u0306\u031b]/u;
const VOWELS = new Set([...'aăâeêioôơuưy']);

/** A letter without its tone, and its tone mark ('' if none). */
function splitTone(char) {
  const decomposed = char.normalize('NFD');
  const tone = (decomposed.match(TONE_MARKS) ?? [''])[0];
  return { base: decomposed.replace(TONE_MARKS, '').normalize('NFC'), tone };
}

function isVowel(base) {
  return VOWELS.has(base.toLowerCase());
}

function withCase(char, like) {
  return like === like.toUpperCase() && like !== like.toLowerCase() ? char.toUpperCase() : char;
}

/** Where the tone of a syllable (letters without tones) goes, or -1 if it has no vowel. */
export function toneIndex(letters) {
  const lower = letters.map((l) => l.toLowerCase());
  let vowels = lower.map((l, i) => (isVowel(l) ? i : -1)).filter((i) => i >= 0);
  if (vowels.length === 0) return -1;
  const word = lower.join('');
  // "qu" and "gi" + vowel: the u and the i belong to the consonant
  if (word.startsWith('qu') && vowels.length > 1 && vowels[0] === 1) vowels = vowels.slice(1);
  if (word.startsWith('gi') && vowels.length > 1 && vowels[0] === 1) vowels = vowels.slice(1);
  const marked = vowels.filter((i) => SHAPE_MARKS.test(lower[i].normalize('NFD')));
  if (marked.length > 0) return marked[marked.length - 1];
  if (vowels.length === 1) return vowels[0];
  const last = vowels[vowels.length - 1];
  if (last < lower.length - 1) return last; // a final consonant follows
  return vowels.length >= 3 ? vowels[1] : vowels[0];
}

function compose(letters, tone) {
  const out = [...letters];
  const at = toneIndex(out);
  if (tone && at >= 0) out[at] = (out[at].normalize('NFD') + tone).normalize('NFC');
  return out.join('');
}

/** The syllable being typed: its letters without tones, and its tone. */
function parseSyllable(word) {
  let tone = '';
  const letters = [...word].map((char) => {
    const split = splitTone(char);
    if (split.tone) tone = split.tone;
    return split.base;
  });
  return { letters, tone };
}

const SHAPES = {
  a: { a: 'â', w: 'ă' },
  e: { e: 'ê' },
  o: { o: 'ô', w: 'ơ' },
  u: { w: 'ư' },
  // the other shape of the same letter replaces the one typed ("Looiw" → "Lơi")
  â: { w: 'ă' },
  ă: { a: 'â' },
  ô: { w: 'ơ' },
  ơ: { o: 'ô' },
};
/** the letter a shape came from, and the key that made it */
const UNSHAPE = { â: ['a', 'a'], ă: ['a', 'w'], ê: ['e', 'e'], ô: ['o', 'o'], ơ: ['o', 'w'], ư: ['u', 'w'] };

/** Applies a shape key (a, e, o, w) to the syllable; false when it is just a letter to type. */
function applyShape(letters, key) {
  const lowerKey = key.toLowerCase();
  const vowelAt = letters.map((l, i) => (isVowel(l) ? i : -1)).filter((i) => i >= 0);
  if (lowerKey === 'w') {
    // uo + w → ươ (also when one of the two already has its horn)
    for (let n = vowelAt.length - 1; n > 0; n--) {
      const [i, j] = [vowelAt[n - 1], vowelAt[n]];
      const pair = letters[i].toLowerCase() + letters[j].toLowerCase();
      if (j === i + 1 && ['uo', 'ưo', 'uơ'].includes(pair)) {
        letters[i] = withCase('ư', letters[i]);
        letters[j] = withCase('ơ', letters[j]);
        return true;
      }
    }
  }
  for (let n = vowelAt.length - 1; n >= 0; n--) {
    const i = vowelAt[n];
    const lower = letters[i].toLowerCase();
    const shaped = SHAPES[lower]?.[lowerKey];
    if (shaped) {
      letters[i] = withCase(shaped, letters[i]);
      return true;
    }
    const undo = UNSHAPE[lower];
    if (undo && undo[1] === lowerKey) {
      // the same key again: the mark comes off and the key is typed as a letter
      letters[i] = withCase(undo[0], letters[i]);
      letters.push(key);
      return true;
    }
  }
  if (lowerKey === 'w' && vowelAt.length === 0) {
    letters.push(withCase('ư', key));
    return true;
  }
  return false;
}

/** Applies d (dd → đ) to the syllable; false when it is just a letter. */
function applyD(letters, key) {
  const first = letters[0];
  if (first === undefined) return false;
  if (first.toLowerCase() === 'd') {
    letters[0] = withCase('đ', first);
    return true;
  }
  if (first.toLowerCase() === 'đ') {
    letters[0] = withCase('d', first);
    letters.push(key);
    return true;
  }
  return false;
}

/** The text after one key press (a single character); non-letters are typed as they are. */
export function telexKey(text, key) {
  const match = /\p{L}+$/u.exec(text);
  const word = match ? match[0] : '';
  const head = text.slice(0, text.length - word.length);
  if (!/^\p{L}$/u.test(key) || word === '') return text + key;
  const { letters, tone } = parseSyllable(word);
  const lowerKey = key.toLowerCase();
  const hasVowel = letters.some(isVowel);
  if (hasVowel && (lowerKey in TONE_OF_KEY || lowerKey === 'z')) {
    const wanted = lowerKey === 'z' ? '' : TONE_OF_KEY[lowerKey];
    if (lowerKey === 'z' && !tone) return text + key;
    // the same tone key again: the tone comes off and the key is typed as a letter
    if (wanted === tone) return head + compose([...letters, key], '');
    return head + compose(letters, wanted);
  }
  if ('aeow'.includes(lowerKey) && applyShape(letters, key)) return head + compose(letters, tone);
  if (lowerKey === 'd' && applyD(letters, key)) return head + compose(letters, tone);
  return head + compose([...letters, key], tone);
}

/** Types a whole string key by key (what the keyboard does one touch at a time). */
export function telex(keys) {
  let text = '';
  for (const key of keys) text = telexKey(text, key);
  return text;
}

/**
 * Text → words for the speech synthesiser, in Vietnamese and English. espeak-ng reads long digit
 * strings as one huge number (and has crashed on them), and reads codes like "U-7K3Q9ABC" as
 * nonsense words; a citizen who cannot see the screen needs them read slowly, digit by digit, in
 * groups. So every number, ID number, date, time and code is turned into words HERE, before any
 * text reaches the synthesiser: the output of `normaliseForSpeech` contains no digit.
 *
 * Pure: no I/O. Vietnamese number words follow the northern reading (the voice is espeak-ng's "vi",
 * Northern): "mốt" after a tens word, "lăm" for a final 5, "linh" for a zero tens digit, "nghìn".
 */
export type SpeechLang = 'vi' | 'en';

const DIGITS: Record<SpeechLang, readonly string[]> = {
  vi: ['không', 'một', 'hai', 'ba', 'bốn', 'năm', 'sáu', 'bảy', 'tám', 'chín'],
  en: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
};

const EN_TEENS = [
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const EN_TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** Letter names, so a code's letters are spelled rather than read as a word. */
const LETTERS: Record<SpeechLang, Record<string, string>> = {
  vi: {
    A: 'a',
    B: 'bê',
    C: 'xê',
    D: 'dê',
    Đ: 'đê',
    E: 'e',
    F: 'ép',
    G: 'giê',
    H: 'hát',
    I: 'i',
    J: 'gi',
    K: 'ca',
    L: 'e lờ',
    M: 'em mờ',
    N: 'en nờ',
    O: 'o',
    P: 'pê',
    Q: 'quy',
    R: 'e rờ',
    S: 'ét',
    T: 'tê',
    U: 'u',
    V: 'vê',
    W: 'vê kép',
    X: 'ích',
    Y: 'i dài',
    Z: 'dét',
  },
  en: {
    A: 'ay',
    B: 'bee',
    C: 'see',
    D: 'dee',
    E: 'ee',
    F: 'eff',
    G: 'jee',
    H: 'aitch',
    I: 'eye',
    J: 'jay',
    K: 'kay',
    L: 'el',
    M: 'em',
    N: 'en',
    O: 'oh',
    P: 'pee',
    Q: 'cue',
    R: 'ar',
    S: 'ess',
    T: 'tee',
    U: 'you',
    V: 'vee',
    W: 'double you',
    X: 'ex',
    Y: 'why',
    Z: 'zed',
  },
};
const DASH: Record<SpeechLang, string> = { vi: 'gạch ngang', en: 'dash' };

/** The largest number read as a number; anything longer is read digit by digit. */
export const MAX_NUMBER = 999_999_999;

function viBelowThousand(n: number, full: boolean): string {
  const hundreds = Math.floor(n / 100);
  const tens = Math.floor((n % 100) / 10);
  const units = n % 10;
  const words: string[] = [];
  // inside a larger number a group below 100 still says its hundreds: 2026 = hai nghìn KHÔNG TRĂM…
  if (hundreds > 0 || full) words.push(DIGITS.vi[hundreds] ?? '', 'trăm');
  if (tens === 0) {
    if (units > 0 && words.length > 0) words.push('linh');
  } else if (tens === 1) words.push('mười');
  else words.push(DIGITS.vi[tens] ?? '', 'mươi');
  if (units > 0) {
    if (units === 1 && tens >= 2) words.push('mốt');
    else if (units === 5 && tens >= 1) words.push('lăm');
    else words.push(DIGITS.vi[units] ?? '');
  }
  return words.join(' ');
}

function enBelowThousand(n: number): string {
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  const words: string[] = [];
  if (hundreds > 0) words.push(DIGITS.en[hundreds] ?? '', 'hundred');
  if (rest > 0) {
    if (hundreds > 0) words.push('and');
    if (rest < 10) words.push(DIGITS.en[rest] ?? '');
    else if (rest < 20) words.push(EN_TEENS[rest - 10] ?? '');
    else {
      const tens = EN_TENS[Math.floor(rest / 10)] ?? '';
      words.push(rest % 10 === 0 ? tens : `${tens}-${DIGITS.en[rest % 10] ?? ''}`);
    }
  }
  return words.join(' ');
}

/** A whole number 0…MAX_NUMBER in words ("2026" → "hai nghìn không trăm hai mươi sáu"). */
export function numberToWords(n: number, lang: SpeechLang): string {
  if (!Number.isInteger(n) || n < 0 || n > MAX_NUMBER) throw new RangeError('numberToWords: out of range');
  if (n === 0) return DIGITS[lang][0] ?? '';
  const scales = lang === 'vi' ? ['', 'nghìn', 'triệu'] : ['', 'thousand', 'million'];
  const groups: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 1000)) groups.push(rest % 1000);
  const words: string[] = [];
  for (let index = groups.length - 1; index >= 0; index--) {
    const group = groups[index] ?? 0;
    if (group === 0) continue;
    const higher = index < groups.length - 1;
    const text = lang === 'vi' ? viBelowThousand(group, higher) : enBelowThousand(group);
    // English: "two thousand and six"
    const joiner = lang === 'en' && higher && index === 0 && group < 100 ? 'and ' : '';
    words.push(`${joiner}${text}${scales[index] ? ` ${scales[index]}` : ''}`);
  }
  return words.join(' ');
}

/** Digits one by one, in groups of `groupSize` separated by commas (a pause for the listener). */
export function spellDigits(digits: string, lang: SpeechLang, groupSize = 3): string {
  const only = digits.replace(/\D/g, '');
  const groups: string[] = [];
  for (let at = 0; at < only.length; at += groupSize) {
    const group = only.slice(at, at + groupSize);
    groups.push([...group].map((digit) => DIGITS[lang][Number(digit)] ?? '').join(' '));
  }
  return groups.join(', ');
}

/** A 12-digit CCCD number, read 3-3-3-3 digit by digit, as the screen shows it. */
export function spellIdNumber(idNumber: string, lang: SpeechLang): string {
  return spellDigits(idNumber, lang, 3);
}

/**
 * A code such as a receipt, tracking or reference code ("U-7K3Q9ABC"): every letter by its
 * name, every digit by itself, a pause every three characters and at each dash.
 */
export function spellCode(code: string, lang: SpeechLang): string {
  const parts = code
    .toUpperCase()
    .split('-')
    .map((part) => [...part].filter((char) => /[A-ZĐ0-9]/.test(char)))
    .filter((chars) => chars.length > 0);
  const spokenParts = parts.map((chars) => {
    const groups: string[] = [];
    for (let at = 0; at < chars.length; at += 3)
      groups.push(
        chars
          .slice(at, at + 3)
          .map((char) => (/\d/.test(char) ? DIGITS[lang][Number(char)] : LETTERS[lang][char]) ?? '')
          .join(' '),
      );
    return groups.join(', ');
  });
  return spokenParts.join(`, ${DASH[lang]}, `);
}

const EN_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function enOrdinal(n: number): string {
  const special: Record<number, string> = {
    1: 'first',
    2: 'second',
    3: 'third',
    5: 'fifth',
    8: 'eighth',
    9: 'ninth',
    12: 'twelfth',
  };
  if (special[n]) return special[n];
  if (n > 20 && n % 10 !== 0 && special[n % 10])
    return `${EN_TENS[Math.floor(n / 10)] ?? ''}-${special[n % 10] ?? ''}`;
  const words = numberToWords(n, 'en');
  return words.endsWith('y') ? `${words.slice(0, -1)}ieth` : `${words}th`;
}

/** A calendar date; day 1–31, month 1–12 (checked by the caller's pattern). */
export function dateToWords(year: number, month: number, day: number, lang: SpeechLang): string {
  if (lang === 'vi')
    // "ngày mùng năm" is the spoken form for days 1–10
    return `ngày ${day <= 10 ? 'mùng ' : ''}${numberToWords(day, 'vi')} tháng ${numberToWords(month, 'vi')} năm ${numberToWords(year, 'vi')}`;
  return `${EN_MONTHS[month - 1] ?? ''} ${enOrdinal(day)}, ${numberToWords(year, 'en')}`;
}

/** A time of day, 24-hour input. */
export function timeToWords(hours: number, minutes: number, lang: SpeechLang): string {
  if (lang === 'vi')
    return `${numberToWords(hours, 'vi')} giờ${minutes > 0 ? ` ${numberToWords(minutes, 'vi')} phút` : ''}`;
  const hour12 = hours % 12 === 0 ? 12 : hours % 12;
  const minuteWords =
    minutes === 0
      ? "o'clock"
      : minutes < 10
        ? `oh ${numberToWords(minutes, 'en')}`
        : numberToWords(minutes, 'en');
  return `${numberToWords(hour12, 'en')} ${minuteWords} ${hours < 12 ? 'a m' : 'p m'}`;
}

/** A run of digits in running text: a small number as a number, anything else digit by digit. */
function digitRunToWords(run: string, lang: SpeechLang): string {
  const readAsNumber = run.length <= 6 && !(run.length > 1 && run.startsWith('0'));
  if (readAsNumber) return numberToWords(Number(run), lang);
  // a Vietnamese mobile number is said 4-3-3 ("0911 222 333")
  if (run.length === 10)
    return `${spellDigits(run.slice(0, 4), lang, 4)}, ${spellDigits(run.slice(4), lang)}`;
  return spellDigits(run, lang);
}

/**
 * Free text → text with no digits, ready for espeak-ng. In this order: dates (dd/mm/yyyy),
 * times (hh:mm), 12-digit ID numbers, codes (capitals and digits, optionally with dashes, at
 * least one digit), then any other digit run.
 */
export function normaliseForSpeech(text: string, lang: SpeechLang): string {
  return text
    .replace(/\b(\d{1,2})\/(\d{1,2})\/(\d{4})\b/g, (match, d: string, m: string, y: string) => {
      const [day, month, year] = [Number(d), Number(m), Number(y)];
      return day >= 1 && day <= 31 && month >= 1 && month <= 12 ? dateToWords(year, month, day, lang) : match;
    })
    .replace(/\b(\d{1,2}):(\d{2})\b/g, (match, h: string, m: string) => {
      const [hours, minutes] = [Number(h), Number(m)];
      return hours < 24 && minutes < 60 ? timeToWords(hours, minutes, lang) : match;
    })
    .replace(/\b\d{12}\b/g, (id) => spellIdNumber(id, lang))
    .replace(/\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)*\b/g, (code) =>
      spellCode(code, lang),
    )
    .replace(/\d+/g, (run) => digitRunToWords(run, lang));
}

/**
 * Vietnamese text for the receipt printer: Windows code page 1258 (WPC1258), selected with
 * ESC t 52 on Epson-compatible printers (ESC/POS "Select character code table", page 52).
 *
 * Why CP1258 and not raster text: it keeps receipts small and fast over a 9600-baud line and the
 * printer's own fonts sharp; printers whose firmware lacks page 52 would need the raster approach.
 * CP1258 has precomposed base letters (ă â ê ô ơ ư đ …) but only five combining tone marks
 * (U+0300 grave, U+0301 acute, U+0303 tilde, U+0309 hook above, U+0323 dot below), so "ệ" is sent
 * as "ê" + U+0323: text is decomposed (NFD), base + non-tone marks recomposed where CP1258 has
 * the letter, tone marks sent as combining bytes. Unmappable characters become "?".
 */
const decoder = new TextDecoder('windows-1258');

const TO_BYTE = new Map<string, number>();
for (let byte = 0; byte < 256; byte++) {
  const char = decoder.decode(Uint8Array.of(byte));
  // bytes CP1258 leaves undefined decode to C1 controls or U+FFFD; they map nothing back
  if (char === '\ufffd' || (char.charCodeAt(0) >= 0x80 && char.charCodeAt(0) < 0xa0)) continue;
  if (!TO_BYTE.has(char)) TO_BYTE.set(char, byte);
}

const TONE_MARKS = new Set(['\u0300', '\u0301', '\u0303', '\u0309', '\u0323']);
const COMBINING = /\p{M}/u;

export const CP1258_CODE_TABLE = 52;

export function encodeCp1258(text: string): Buffer {
  const out: number[] = [];
  const chars = [...text.normalize('NFD')];
  for (let i = 0; i < chars.length;) {
    const base = chars[i] as string;
    let j = i + 1;
    const marks: string[] = [];
    while (j < chars.length && COMBINING.test(chars[j] as string)) marks.push(chars[j++] as string);
    i = j;
    const whole = (base + marks.join('')).normalize('NFC');
    const single = TO_BYTE.get(whole);
    if (single !== undefined) {
      out.push(single);
      continue;
    }
    const letter = (base + marks.filter((m) => !TONE_MARKS.has(m)).join('')).normalize('NFC');
    const tones = marks.filter((m) => TONE_MARKS.has(m));
    const letterByte = TO_BYTE.get(letter);
    if (letterByte === undefined) {
      out.push(0x3f);
      continue;
    }
    out.push(letterByte);
    for (const tone of tones) out.push(TO_BYTE.get(tone) ?? 0x3f);
  }
  return Buffer.from(out);
}

/**
 * Decodes CP1258 bytes as they are, combining marks included: whether "ê" + U+0323 reads as "ệ"
 * depends on the printer striking the mark over the letter (paper.ts), not on the code page.
 */
export function decodeCp1258(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

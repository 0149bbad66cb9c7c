/**
 * TCVN 5712:1993 VN3 ("TCVN-3", ABC), the Vietnamese code page of printers that lack CP1258.
 * VN3 has precomposed lower-case letters with their tones (0xA8–0xFE), so a line prints as whole
 * glyphs with no combining marks. Upper-case toned letters are not in VN3; printers put them in a
 * companion "TCVN-3 capitals" table at the same byte values (Epson: ESC t 30 and ESC t 31), so the
 * encoder switches table for an upper-case run. ASCII is the same in both.
 */

/** 0xA8.. 0xFE of the lower-case table; '' = not a letter of VN3. */
// prettier-ignore
const LOWER_FROM_A8 = [
  'ă', 'â', 'ê', 'ô', 'ơ', 'ư', 'đ', '', // A8–AF
  '', '', '', '', '', 'à', 'ả', 'ã', 'á', 'ạ', '', 'ằ', 'ẳ', 'ẵ', 'ắ', '', // B0–BF
  '', '', '', '', '', '', 'ặ', 'ầ', 'ẩ', 'ẫ', 'ấ', 'ậ', 'è', '', 'ẻ', 'ẽ', // C0–CF
  'é', 'ẹ', 'ề', 'ể', 'ễ', 'ế', 'ệ', 'ì', 'ỉ', '', '', '', 'ĩ', 'í', 'ị', 'ò', // D0–DF
  '', 'ỏ', 'õ', 'ó', 'ọ', 'ồ', 'ổ', 'ỗ', 'ố', 'ộ', 'ờ', 'ở', 'ỡ', 'ớ', 'ợ', 'ù', // E0–EF
  '', 'ủ', 'ũ', 'ú', 'ụ', 'ừ', 'ử', 'ữ', 'ứ', 'ự', 'ỳ', 'ỷ', 'ỹ', 'ý', 'ỵ', '', // F0–FF
];

function table(capitals: boolean): Map<number, string> {
  const map = new Map<number, string>();
  for (let byte = 0x20; byte < 0x7f; byte++) map.set(byte, String.fromCharCode(byte));
  LOWER_FROM_A8.forEach((char, index) => {
    if (char === '') return;
    const byte = 0xa8 + index;
    // the capitals table keeps Ă Â Đ at 0xA1, 0xA2, 0xA7 (VN3's upper-case base letters)
    if (capitals && (char === 'ă' || char === 'â' || char === 'đ')) return;
    map.set(byte, capitals ? char.toUpperCase() : char);
  });
  if (capitals) {
    map.set(0xa1, 'Ă');
    map.set(0xa2, 'Â');
    map.set(0xa7, 'Đ');
  }
  return map;
}

export const TCVN3_LOWER = table(false);
export const TCVN3_CAPITALS = table(true);

function invert(map: Map<number, string>): Map<string, number> {
  return new Map([...map].map(([byte, char]) => [char, byte]));
}
export const TCVN3_LOWER_BYTES = invert(TCVN3_LOWER);
export const TCVN3_CAPITALS_BYTES = invert(TCVN3_CAPITALS);

/**
 * The length of every ESC/POS command of the Epson ESC/POS command reference (TM series), so a
 * printer skips a command it does not act on by its real parameter length and never prints a
 * parameter byte as text. Lengths count the whole command, prefix included.
 */
export const DLE = 0x10;
export const ESC = 0x1b;
export const FS = 0x1c;
export const GS = 0x1d;

/** total length, or a function of the bytes (undefined: more bytes needed) */
type LengthOf = (b: Uint8Array, i: number) => number | undefined;
type Length = number | LengthOf;

const u16 = (b: Uint8Array, at: number) => (b[at] as number) | ((b[at + 1] as number) << 8);
const has = (b: Uint8Array, end: number) => end <= b.length;

/** `X ( c pL pH d1…dp`: the p bytes after pL pH (GS ( k, GS ( L, FS ( A, ESC ( A …) */
const pLpH: LengthOf = (b, i) => (has(b, i + 5) ? 5 + u16(b, i + 3) : undefined);

/** Up to and including a NUL, at most `max` data bytes (ESC D, ESC B, GS k form 1). */
const untilNul =
  (header: number, max: number): LengthOf =>
  (b, i) => {
    for (let j = i + header; j < b.length; j++) if (b[j] === 0 || j - (i + header) >= max) return j - i + 1;
    return undefined;
  };

const ESC_COMMANDS: Record<number, Length> = {
  0x0c: 2, // ESC FF print data in page mode
  0x20: 3, // ESC SP n right-side character spacing
  0x21: 3, // ESC ! n print mode
  0x24: 4, // ESC $ nL nH absolute print position
  0x25: 3, // ESC % n user-defined character set
  0x26: escAmpersand, // ESC & y c1 c2 [x d1…d(y×x)]… define user-defined characters
  0x28: pLpH, // ESC ( A beeper
  0x2a: escStar, // ESC * m nL nH d1…dk bit image
  0x2d: 3, // ESC - n underline
  0x32: 2, // ESC 2 default line spacing
  0x33: 3, // ESC 3 n line spacing
  0x3c: 2, // ESC < return home
  0x3d: 3, // ESC = n select peripheral device
  0x3f: 3, // ESC ? n cancel user-defined characters
  0x40: 2, // ESC @ initialize
  0x42: 4, // ESC B n t buzzer (TM-U/clone models; not in the TM-T reference)
  0x44: untilNul(2, 32), // ESC D n1…nk NUL horizontal tab positions
  0x45: 3, // ESC E n emphasized
  0x47: 3, // ESC G n double-strike
  0x4a: 3, // ESC J n print and feed n dots
  0x4b: 3, // ESC K n print and reverse feed
  0x4c: 2, // ESC L page mode
  0x4d: 3, // ESC M n character font
  0x52: 3, // ESC R n international character set
  0x53: 2, // ESC S standard mode
  0x54: 3, // ESC T n print direction in page mode
  0x55: 3, // ESC U n unidirectional printing
  0x56: 3, // ESC V n 90° rotation
  0x57: 10, // ESC W xL xH yL yH dxL dxH dyL dyH print area in page mode
  0x5c: 4, // ESC \ nL nH relative print position
  0x61: 3, // ESC a n justification
  0x63: 4, // ESC c 0/1/3/4/5 n paper type, sensors, panel buttons
  0x64: 3, // ESC d n print and feed n lines
  0x65: 3, // ESC e n print and reverse feed n lines
  0x69: 2, // ESC i partial cut (one point left)
  0x6d: 2, // ESC m partial cut (three points left)
  0x70: 5, // ESC p m t1 t2 generate pulse (cash drawer)
  0x72: 3, // ESC r n print color
  0x74: 3, // ESC t n character code table
  0x75: 3, // ESC u n transmit peripheral device status
  0x76: 2, // ESC v transmit paper sensor status
  0x7b: 3, // ESC { n upside-down
};

const FS_COMMANDS: Record<number, Length> = {
  0x21: 3, // FS ! n print mode for Kanji characters
  0x26: 2, // FS & select Kanji character mode
  0x28: pLpH, // FS ( A / C / E / L / e …
  0x2d: 3, // FS - n underline for Kanji characters
  0x2e: 2, // FS . cancel Kanji character mode
  0x32: 4 + 72, // FS 2 c1 c2 d1…d72 define user-defined Kanji (24×24)
  0x3f: 4, // FS ? c1 c2 cancel user-defined Kanji
  0x43: 3, // FS C n Kanji code system
  0x53: 4, // FS S n1 n2 Kanji character spacing
  0x57: 3, // FS W n quadruple-size Kanji
  0x67: fsG, // FS g 1 / FS g 2 NV user memory
  0x70: 4, // FS p n m print NV bit image
  0x71: fsQ, // FS q n [xL xH yL yH d1…dk]… define NV bit images
};

const GS_COMMANDS: Record<number, Length> = {
  0x21: 3, // GS ! n character size
  0x23: 3, // GS # n select NV bit image (TM-L)
  0x24: 4, // GS $ nL nH absolute vertical position in page mode
  0x28: pLpH, // GS ( A / C / D / E / H / K / L / M / N / P / Q / k / z …
  0x2a: gsStar, // GS * x y d1…d(x×y×8) define downloaded bit image
  0x2f: 3, // GS / m print downloaded bit image
  0x38: gs8, // GS 8 L p1 p2 p3 p4 m fn … (GS ( L with 32-bit length)
  0x3a: 2, // GS : start/end macro definition
  0x42: 3, // GS B n white/black reverse
  0x43: gsC, // GS C 0 / 1 / 2 / ; counters
  // GS D (Windows BMP) carries no length of its own: left out, so it is skipped as unknown
  0x45: 3, // GS E n print speed / head control
  0x48: 3, // GS H n HRI position
  0x49: 3, // GS I n transmit printer ID
  0x4c: 4, // GS L nL nH left margin
  0x50: 4, // GS P x y motion units
  0x51: gsQ, // GS Q 0 v1 v2 c1 c2 … variable vertical size bit image
  0x54: 3, // GS T n set print position to beginning of line
  0x56: gsV, // GS V m [n] cut
  0x57: 4, // GS W nL nH print area width
  0x5c: 4, // GS \ nL nH relative vertical position in page mode
  0x5e: 5, // GS ^ r t m execute macro
  0x61: 3, // GS a n automatic status back
  0x62: 3, // GS b n smoothing
  0x63: 2, // GS c print counter
  0x66: 3, // GS f n HRI font
  0x67: gsG, // GS g 0 m nL nH / GS g 2 m nL nH maintenance counters
  0x68: 3, // GS h n bar code height
  0x6b: gsK, // GS k bar code (both forms)
  0x72: 3, // GS r n transmit status
  0x76: gsV0, // GS v 0 m xL xH yL yH d1…dk raster bit image
  0x77: 3, // GS w n bar code width
  0x7a: 5, // GS z 0 t1 t2 online recovery wait time
};

const DLE_COMMANDS: Record<number, Length> = {
  0x04: (b, i) => (has(b, i + 3) ? (b[i + 2] === 7 || b[i + 2] === 8 ? 4 : 3) : undefined), // DLE EOT n [a]
  0x05: 3, // DLE ENQ n real-time request
  0x14: (b, i) => {
    // DLE DC4 fn …: 1 pulse (m t), 2 power-off (1 8), 3 buzzer, 7 status (m), 8 clear buffers (d1…d7)
    if (!has(b, i + 3)) return undefined;
    const fn = b[i + 2];
    return fn === 8 ? 10 : fn === 7 ? 4 : fn === 3 ? 8 : 5;
  },
};

function escAmpersand(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 5)) return undefined;
  const y = b[i + 2] as number;
  const first = b[i + 3] as number;
  const last = b[i + 4] as number;
  let at = i + 5;
  for (let c = first; c <= last; c++) {
    if (!has(b, at + 1)) return undefined;
    at += 1 + y * (b[at] as number);
  }
  return has(b, at) ? at - i : undefined;
}

function escStar(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 5)) return undefined;
  const m = b[i + 2] as number;
  const dots = u16(b, i + 3);
  return 5 + dots * (m === 32 || m === 33 ? 3 : 1);
}

function fsG(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 3)) return undefined;
  if (b[i + 2] !== 0x31) return 10; // FS g 2 m a1–a4 nL nH: read
  return has(b, i + 10) ? 10 + u16(b, i + 8) : undefined; // FS g 1 m a1–a4 nL nH d1…dk
}

function fsQ(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 3)) return undefined;
  let at = i + 3;
  for (let image = 0; image < (b[i + 2] as number); image++) {
    if (!has(b, at + 4)) return undefined;
    at += 4 + u16(b, at) * u16(b, at + 2) * 8;
  }
  return at - i;
}

function gsStar(b: Uint8Array, i: number): number | undefined {
  return has(b, i + 4) ? 4 + (b[i + 2] as number) * (b[i + 3] as number) * 8 : undefined;
}

function gs8(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 7)) return undefined;
  const p =
    (b[i + 3] as number) +
    (b[i + 4] as number) * 256 +
    (b[i + 5] as number) * 65536 +
    (b[i + 6] as number) * 16777216;
  return 7 + p;
}

function gsC(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 3)) return undefined;
  const fn = b[i + 2];
  if (fn === 0x30) return 5; // GS C 0 n m counter print mode
  if (fn === 0x31) return 9; // GS C 1 aL aH bL bH n r counter mode (A)
  if (fn === 0x32) return 5; // GS C 2 nL nH set counter
  if (fn === 0x3b) return untilNul(3, 64)(b, i); // GS C ; sa ; sb ; sn ; sr ; sc ; counter mode (B)
  return 3;
}

function gsQ(b: Uint8Array, i: number): number | undefined {
  // GS Q 0 m xL xH yL yH d1…dk, k = (xL + xH×256) × (yL + yH×256)
  return has(b, i + 8) ? 8 + u16(b, i + 4) * u16(b, i + 6) : undefined;
}

function gsV(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 3)) return undefined;
  const m = b[i + 2] as number;
  // function A (0, 1, 48, 49) has no n; B (65, 66), C (97, 98) and D (103, 104) have n
  return [0, 1, 48, 49].includes(m) ? 3 : 4;
}

function gsG(b: Uint8Array, i: number): number | undefined {
  return has(b, i + 3) ? 6 : undefined; // GS g 0 m nL nH / GS g 2 m nL nH
}

function gsK(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 3)) return undefined;
  const m = b[i + 2] as number;
  if (m <= 6) return untilNul(3, 255)(b, i); // form 1: d1…dk NUL
  return has(b, i + 4) ? 4 + (b[i + 3] as number) : undefined; // form 2 (m 65–79): n d1…dn
}

function gsV0(b: Uint8Array, i: number): number | undefined {
  if (!has(b, i + 8)) return undefined;
  return 8 + u16(b, i + 4) * u16(b, i + 6); // GS v 0 m xL xH yL yH: xL/xH in bytes, yL/yH in dots
}

const TABLES: Record<number, Record<number, Length>> = {
  [ESC]: ESC_COMMANDS,
  [FS]: FS_COMMANDS,
  [GS]: GS_COMMANDS,
  [DLE]: DLE_COMMANDS,
};

export const isCommandPrefix = (byte: number) => byte === ESC || byte === FS || byte === GS || byte === DLE;

/**
 * The length of the command starting at `i`: `undefined` when more bytes are needed; `known` is
 * false for a code the reference does not define (the printer skips the prefix and the code).
 */
export function commandLength(b: Uint8Array, i: number): { length: number; known: boolean } | undefined {
  if (!has(b, i + 2)) return undefined;
  const table = TABLES[b[i] as number];
  const spec = table?.[b[i + 1] as number];
  if (spec === undefined) return { length: 2, known: false };
  const length = typeof spec === 'number' ? spec : spec(b, i);
  if (length === undefined || !has(b, i + length)) return undefined;
  return { length, known: true };
}

/**
 * The citizen's receipt: which kiosk, where, when (Vietnam time), the reference to quote, and a
 * QR of the same facts for staff to scan. No name, no ID number: a receipt left in the tray must
 * tell a stranger nothing. Pure: the printer driver encodes it for its model (profiles.ts).
 */
import type { Receipt, ReceiptItem } from '../../devices/index.js';

export interface ReceiptFacts {
  kind: 'pickup' | 'update';
  kioskId: string;
  site?: string;
  at: Date;
  /** the pickup receipt code or the update tracking code */
  reference: string;
}

/** Font A characters per line on 80 mm paper; a 58 mm printer profile has 32. */
export const DEFAULT_COLUMNS = 48;
/** Vietnam keeps UTC+7 all year (no daylight saving). */
const VIETNAM_OFFSET_MS = 7 * 3600_000;

const TITLE: Record<ReceiptFacts['kind'], { title: string; done: string }> = {
  pickup: { title: 'BIÊN NHẬN', done: 'Đã nhận thẻ Căn cước / Card collected' },
  update: { title: 'BIÊN NHẬN', done: 'Đã gửi yêu cầu cập nhật / Update submitted' },
};

export function composeReceipt(facts: ReceiptFacts, columns = DEFAULT_COLUMNS): Receipt {
  const { title, done } = TITLE[facts.kind];
  const text = (line: string, style: Omit<Extract<ReceiptItem, { kind: 'text' }>, 'kind' | 'text'> = {}) => ({
    kind: 'text' as const,
    text: wrap(line, Math.floor(columns / (style.width ?? 1))).join('\n'),
    ...style,
  });
  return {
    items: [
      text(title, { bold: true, width: 2, height: 2, align: 'center' }),
      text('CĂN CƯỚC CÔNG DÂN', { bold: true, align: 'center' }),
      { kind: 'feed', lines: 1 },
      text(`Kiosk: ${facts.kioskId}`),
      ...(facts.site ? [text(`Địa điểm: ${facts.site}`)] : []),
      text(`Thời gian: ${vietnamTime(facts.at)}`),
      text(`Mã tham chiếu: ${facts.reference}`, { bold: true }),
      text(done),
      { kind: 'qr', data: receiptQr(facts), moduleSize: 5, align: 'center' },
      text('Xin cảm ơn! Giữ biên nhận này để tra cứu.', { align: 'center' }),
    ],
  };
}

/** What the QR holds: the same facts as the text, machine-readable; nothing about the citizen. */
export function receiptQr(facts: ReceiptFacts): string {
  return `CCCD-KIOSK|${facts.kind}|${facts.kioskId}|${facts.reference}|${facts.at.toISOString()}`;
}

/** dd/mm/yyyy HH:MM in Vietnam time, as people there write it. */
export function vietnamTime(at: Date): string {
  const local = new Date(at.getTime() + VIETNAM_OFFSET_MS);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(local.getUTCDate())}/${two(local.getUTCMonth() + 1)}/${local.getUTCFullYear()} ${two(local.getUTCHours())}:${two(local.getUTCMinutes())}`;
}

/** Word wrap to `columns` characters (precomposed), breaking a word only when it is longer. */
export function wrap(line: string, columns: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of line.normalize('NFC').split(' ')) {
    const candidate = current ? `${current} ${word}` : word;
    if ([...candidate].length <= columns) {
      current = candidate;
      continue;
    }
    if (current) lines.push(current);
    let rest = [...word];
    while (rest.length > columns) {
      lines.push(rest.slice(0, columns).join(''));
      rest = rest.slice(columns);
    }
    current = rest.join('');
  }
  if (current) lines.push(current);
  return lines;
}

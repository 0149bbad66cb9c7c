/**
 * The contract between the citizen sessions (src/kiosk) and the touchscreen app (src/ui): what the
 * server pushes to the page over the WebSocket, and what the page sends back. The page renders
 * `SessionView` and nothing else; it holds no state of its own beyond the language.
 *
 * PII rule: the view carries the masked ID only. The update flow's "current record" is the
 * citizen's own contact data, shown to them on the screen and never logged.
 */
import { z } from 'zod';

export const SCREENS = [
  'attract', // idle: invitation to start, choose pickup or update
  'identify', // pickup: scan the pickup QR or type the 12-digit ID
  'finger', // place finger (attemptsLeft, countdown)
  'checking-card', // card moved to the chip station and verified (progress)
  'take-card', // card presented in the tray (countdown)
  'receipt', // done: receipt printed (receiptCode)
  'referral', // see staff (reason code)
  'update-identify', // update: scan the QR on your own card
  'update-record', // current record shown, choose fields to edit
  'update-edit', // edit phone, e-mail, place of residence (province/ward lists)
  'update-confirm', // review changes
  'update-done', // submitted: tracking code, receipt printed
  'update-status', // status of an earlier update (asked again)
  'status-lookup', // type a tracking code to ask for an update's status (the reason when unknown)
  'out-of-service', // a needed device is missing, or storage full, or locked by operations
] as const;
export type Screen = (typeof SCREENS)[number];

export interface SessionView {
  /** increases with every push, so the page (and the latency bench) can tell pushes apart */
  seq: number;
  screen: Screen;
  flow: 'pickup' | 'update' | null;
  /** e.g. "001*******45"; never the full number */
  maskedId?: string;
  attemptsLeft?: number;
  /** a visible countdown: the screen times out at `endsAt` (epoch ms) */
  countdown?: { endsAt: number; totalMs: number };
  progress?: { step: 'bac' | 'read' | 'passive-auth' | 'active-auth' | 'match'; done: number; total: number };
  /** an i18n message key shown on the screen, e.g. 'finger.no-match', 'referral.finger-attempts' */
  messageKey?: string;
  /** "need more time?" is asked: a touch extends the step (WCAG 2.2 §2.2.1) */
  moreTime?: boolean;
  /** the last finger attempt missed: lift the finger before the next one */
  liftFinger?: boolean;
  /** referral: the code staff look up (the kiosk logged the reason under it) */
  referenceCode?: string;
  /** receipt / update-done: true only when the printer confirmed the receipt */
  receiptPrinted?: boolean;
  receiptCode?: string;
  trackingCode?: string;
  /** update flow only: the citizen's own current contact data */
  record?: {
    phone?: string;
    email?: string;
    residence?: { provinceCode: string; wardCode: string; detail: string };
  };
  /** update flow only: post-2025 provinces and wards, as supplied by the registry */
  gazetteer?: Array<{ code: string; name: string; wards: Array<{ code: string; name: string }> }>;
  updateStatus?: {
    trackingCode: string;
    state: 'received' | 'approved' | 'rejected' | 'pending';
    note?: string;
  };
  outOfService?: { reasonKey: string; devices: string[] };
}

export const UiInputSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('start'), flow: z.enum(['pickup', 'update', 'status']) }),
  z.strictObject({ type: z.literal('enter-id'), idNumber: z.string().max(20) }),
  z.strictObject({
    type: z.literal('edit'),
    fields: z.strictObject({
      phone: z.string().max(20).optional(),
      email: z.string().max(254).optional(),
      residence: z
        .strictObject({
          provinceCode: z.string().max(8),
          wardCode: z.string().max(8),
          detail: z.string().max(200),
        })
        .optional(),
    }),
  }),
  z.strictObject({ type: z.literal('confirm') }),
  z.strictObject({ type: z.literal('back') }),
  z.strictObject({ type: z.literal('cancel') }),
  /** any touch: resets the idle countdown */
  z.strictObject({ type: z.literal('touch') }),
  /** "yes" to "need more time?" */
  z.strictObject({ type: z.literal('more-time') }),
  z.strictObject({ type: z.literal('ask-status'), trackingCode: z.string().max(32) }),
]);
export type UiInput = z.infer<typeof UiInputSchema>;

/**
 * What the UI server needs of the citizen sessions (implemented in src/kiosk, wired in main.ts).
 * The UI pushes every view to the page; inputs are validated with `UiInputSchema` before `handle`.
 */
export interface SessionController {
  current(): SessionView;
  /** called with every new view; returns the unsubscribe function */
  subscribe(listener: (view: SessionView) => void): () => void;
  handle(input: UiInput): void;
}

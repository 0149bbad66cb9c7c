/**
 * The one gate every message that can move a card or change the kiosk passes BEFORE anything of it
 * is stored (DESIGN.md "Security model"): manifest entries and update statuses from the registry,
 * configs and commands from operations.
 *
 * A message passes when it is signed by its author's pinned key (Ed25519 over RFC 8785 JCS), names
 * this kiosk in `to` (or an explicit list holding it; `*` only for a fleet config), carries a nonce,
 * an issue time not in the future and an expiry not past and not too far ahead, and was issued after
 * the kiosk last lost its store (the nonces of before are gone with it). The nonce is remembered in
 * the transaction that applies the message, until the message expires: a copy replayed on this
 * kiosk is refused, and a copy replayed on another kiosk is refused there by `to`.
 */
import type { Envelope, MessageType, RefusalReason } from '../link/messages.js';
import { WHOLE_FLEET } from '../link/messages.js';
import type { Transaction } from '../store/index.js';
import { type PinnedKeys, SignatureRefused, verifyEnvelope } from './signing.js';

/** Who must have signed each inbound message type. */
export const AUTHOR_OF = {
  'manifest.entry': 'registry',
  'manifest.resync': 'registry',
  'update.status': 'registry',
  'config.push': 'ops',
  'command.request': 'ops',
} as const satisfies Partial<Record<MessageType, 'registry' | 'ops'>>;
export type GatedType = keyof typeof AUTHOR_OF;

/** How far ahead a message may say it expires; bounds how long its nonce is kept. */
export const MAX_LIFETIME_MS: Record<GatedType, number> = {
  'manifest.entry': 7 * 24 * 3600_000,
  'manifest.resync': 7 * 24 * 3600_000,
  'update.status': 7 * 24 * 3600_000,
  'config.push': 30 * 24 * 3600_000,
  'command.request': 24 * 3600_000,
};
/** Clock difference tolerated between the signer and the kiosk. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** A message refused by the gate; `reason` is safe to log and to report. */
export class GateRefused extends Error {
  override readonly name = 'GateRefused';
  constructor(
    readonly reason: RefusalReason,
    readonly detail?: string,
  ) {
    super(detail ? `${reason}: ${detail}` : reason);
  }
}

export interface GateOptions {
  kioskId: string;
  keys: Record<'registry' | 'ops', PinnedKeys>;
  /** messages issued before this instant are refused (the kiosk lost its nonces then) */
  notBefore: () => number;
  now?: () => number;
}

export class MessageGate {
  constructor(private readonly options: GateOptions) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Throws GateRefused unless `message` is authentic, for this kiosk and current. */
  check(message: Envelope & { type: GatedType }, options: { fleetWide?: boolean } = {}): void {
    try {
      verifyEnvelope(message, this.options.keys[AUTHOR_OF[message.type]]);
    } catch (error) {
      if (error instanceof SignatureRefused) throw new GateRefused(error.reason);
      // canonicalisation cannot throw on what decodeOneOf let through; anything else is malformed
      throw new GateRefused('malformed', 'signature input cannot be canonicalised');
    }
    this.checkTarget(message, options.fleetWide === true);
    if (!message.nonce) throw new GateRefused('invalid', 'no nonce');
    this.checkTimes(message);
  }

  private checkTarget(message: Envelope & { type: GatedType }, fleetWide: boolean): void {
    const { to } = message;
    if (to === undefined) throw new GateRefused('invalid', 'no target kiosk (to)');
    if (to === WHOLE_FLEET) {
      if (fleetWide && message.type === 'config.push') return;
      throw new GateRefused('other-kiosk', 'addressed to the whole fleet');
    }
    const targets = typeof to === 'string' ? [to] : to;
    if (!targets.includes(this.options.kioskId)) throw new GateRefused('other-kiosk');
  }

  private checkTimes(message: Envelope & { type: GatedType }): void {
    const now = this.now();
    const issued = Date.parse(message.ts);
    if (issued > now + CLOCK_SKEW_MS) throw new GateRefused('invalid', 'issued in the future');
    if (!message.expiresAt) throw new GateRefused('invalid', 'no expiresAt');
    const expires = Date.parse(message.expiresAt);
    if (expires <= now) throw new GateRefused('expired');
    const lifetime = MAX_LIFETIME_MS[message.type];
    if (expires - issued > lifetime || expires > now + lifetime + CLOCK_SKEW_MS)
      throw new GateRefused('invalid', `expiresAt more than ${lifetime / 3600_000} h after ts`);
    // configs are protected by their versions (kept outside the store); everything else by nonces,
    // and the nonces of before a lost store are gone with it
    if (message.type !== 'config.push' && issued < this.options.notBefore())
      throw new GateRefused('replayed', 'issued before the kiosk lost its store');
  }
}

/**
 * Remembers the nonce of an accepted message in `tx` (the transaction that applies it), until the
 * message expires. False when the nonce is already known: the message is a replay or a redelivery.
 */
export async function rememberNonce(tx: Transaction, message: Envelope, now: number): Promise<boolean> {
  if (!message.nonce || !message.expiresAt) return false;
  const fresh = await tx.run('INSERT OR IGNORE INTO message_nonces (nonce, expires_at) VALUES (?, ?)', [
    message.nonce,
    Math.max(Date.parse(message.expiresAt), now),
  ]);
  return fresh.changes === 1;
}

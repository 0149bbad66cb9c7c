import type { Store, Transaction } from '../store/index.js';
import type { Logger } from '../util/log.js';
import {
  decodeOneOf,
  type Envelope,
  InvalidMessage,
  type MessageBody,
  type MessageType,
  type RefusalReason,
} from './messages.js';
import { FailedTries, failureName, isStorageFailure, recordSetAside } from './set-aside.js';
import { parseKioskTopic } from './topics.js';

/**
 * Schedules an effect of an inbound message (a reply, a bus event, a restart) for after the
 * transaction that records the message has committed: a message whose transaction fails is
 * redelivered, so its effects must not have happened yet. Effects run in the order scheduled.
 */
export type AfterCommit = (effect: () => void) => void;

/** Applies one inbound message inside the transaction that records it as applied. */
export type InboundHandler<T extends MessageType> = (
  message: Envelope<MessageBody<T>>,
  tx: Transaction,
  afterCommit: AfterCommit,
) => Promise<void>;

/** An inbound message of one of the gated types (manifest, update status, command). */
export type InboundMessage = Envelope<MessageBody<InboundType>> & { type: InboundType };
type InboundType = 'manifest.entry' | 'manifest.resync' | 'command.request' | 'update.status';

/**
 * Decides, BEFORE anything of a message is stored, whether it may be applied (signature, target,
 * times, nonce: the fleet room's MessageGate), remembers its nonce in the applying transaction, and
 * hears of every refusal (counted and summarised there, never stored one by one).
 */
export interface InboundGuard {
  /** undefined: admitted; otherwise why it is refused */
  admit(message: InboundMessage): RefusalReason | undefined;
  /** records the nonce in `tx`; false when it is already known (a replay or a redelivery) */
  remember(message: InboundMessage, tx: Transaction): Promise<boolean>;
  /** a refused message (undefined when it could not even be decoded) on topic leaf `leaf` */
  refused(
    leaf: string,
    reason: RefusalReason,
    message: InboundMessage | undefined,
    payload: Buffer,
  ): Promise<void>;
}

export interface InboundHandlers {
  /** without a guard every gated message is refused: nothing unverified is ever applied */
  guard?: InboundGuard;
  manifest?: InboundHandler<'manifest.entry'>;
  /** the registry's list that closes a manifest resync the kiosk asked for */
  manifestResync?: InboundHandler<'manifest.resync'>;
  command?: InboundHandler<'command.request'>;
  updateStatus?: InboundHandler<'update.status'>;
  /**
   * Hears, in the transaction that keeps it, of a message set aside after failing on every try
   * (e.g. a command is answered `failed`, so operations are not left waiting for an answer).
   */
  setAside?: (
    message: InboundMessage,
    failure: { name: string; attempts: number },
    tx: Transaction,
    afterCommit: AfterCommit,
  ) => Promise<void>;
}

export type InboundOutcome = 'applied' | 'duplicate' | 'rejected' | 'ignored' | 'setAside';

/** Which message types each inbound leaf topic carries (DESIGN.md "MQTT API"). */
const LEAF_TYPES = {
  manifest: ['manifest.entry', 'manifest.resync'],
  cmd: ['command.request'],
  updates: ['update.status'],
} as const satisfies Record<string, readonly MessageType[]>;

/**
 * Commands, manifest entries and update statuses arrive at least once (QoS 1). Each is checked by
 * the guard before anything is written; an admitted one is applied in one transaction with its id
 * in the inbox and its nonce, so a redelivery is acknowledged and not applied twice — even across a
 * crash between applying and PUBACK. A refused one leaves no row.
 */
export class InboundRouter {
  readonly counts: Record<InboundOutcome, number> = {
    applied: 0,
    duplicate: 0,
    rejected: 0,
    ignored: 0,
    setAside: 0,
  };
  private readonly failedTries = new FailedTries();

  constructor(
    private readonly options: { kioskId: string; store?: Store; handlers: InboundHandlers; log: Logger },
  ) {}

  async handle(topic: string, payload: Buffer): Promise<InboundOutcome> {
    const outcome = await this.route(topic, payload);
    this.counts[outcome]++;
    return outcome;
  }

  private async route(topic: string, payload: Buffer): Promise<InboundOutcome> {
    const parsed = parseKioskTopic(topic);
    if (parsed?.kioskId !== this.options.kioskId) return 'ignored';
    const leaf = parsed.leaf;
    if (leaf !== 'manifest' && leaf !== 'cmd' && leaf !== 'updates') return 'ignored';
    const { handlers } = this.options;
    const guard = handlers.guard;
    let message: InboundMessage;
    try {
      message = decodeOneOf(payload, LEAF_TYPES[leaf]);
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      await guard?.refused(leaf, 'malformed', undefined, payload);
      return 'rejected';
    }
    const refusal = guard ? guard.admit(message) : 'unsigned';
    if (refusal !== undefined) {
      await guard?.refused(leaf, refusal, message, payload);
      return 'rejected';
    }
    const store = this.options.store;
    if (!store || !guard) return 'ignored';
    let outcome: InboundOutcome;
    try {
      outcome = await this.apply(message, store, guard);
    } catch (error) {
      // thrown on: the link hands the message back for redelivery (link.ts handBack)
      if (isStorageFailure(error) || !this.failedTries.failedTooOften(message.id)) throw error;
      await this.setAside(message, leaf, error, payload, store, guard);
      return 'setAside';
    }
    this.failedTries.forget(message.id);
    if (outcome === 'duplicate') await guard.refused(leaf, 'replayed', message, payload);
    return outcome;
  }

  /** Applies an admitted message in one transaction, then performs its effects. */
  private apply(message: InboundMessage, store: Store, guard: InboundGuard): Promise<InboundOutcome> {
    const { handlers } = this.options;
    return this.commitThenPerform(store, async (tx, afterCommit) => {
      if (!(await guard.remember(message, tx))) return 'duplicate';
      if (!(await tx.markApplied(message.id, message.type))) return 'duplicate';
      if (message.type === 'manifest.entry')
        await handlers.manifest?.(message as Envelope<MessageBody<'manifest.entry'>>, tx, afterCommit);
      else if (message.type === 'manifest.resync')
        await handlers.manifestResync?.(message as Envelope<MessageBody<'manifest.resync'>>, tx, afterCommit);
      else if (message.type === 'update.status')
        await handlers.updateStatus?.(message as Envelope<MessageBody<'update.status'>>, tx, afterCommit);
      else await handlers.command?.(message as Envelope<MessageBody<'command.request'>>, tx, afterCommit);
      return 'applied';
    });
  }

  /** Keeps a message that failed every try, acknowledged and reported (src/link/set-aside.ts). */
  private async setAside(
    message: InboundMessage,
    leaf: string,
    error: unknown,
    payload: Buffer,
    store: Store,
    guard: InboundGuard,
  ): Promise<void> {
    const attempts = this.failedTries.triesOf(message.id);
    const failure = failureName(error);
    await this.commitThenPerform(store, async (tx, afterCommit) => {
      await guard.remember(message, tx);
      const entry = {
        messageId: message.id,
        messageType: message.type,
        topicLeaf: leaf,
        failure,
        attempts,
        payload,
      };
      await recordSetAside(tx, entry, Date.now());
      await this.options.handlers.setAside?.(message, { name: failure, attempts }, tx, afterCommit);
    });
    this.failedTries.forget(message.id);
    this.options.log.error(
      { messageId: message.id, type: message.type, failure, attempts },
      'inbound: message failed on every try; set aside, acknowledged and reported',
    );
  }

  /**
   * Runs `work` in one transaction; the effects it schedules happen once that has committed (the
   * message is recorded, so they happen now and never for a redelivery), and only those of the
   * attempt that commits.
   */
  private async commitThenPerform<T>(
    store: Store,
    work: (tx: Transaction, afterCommit: AfterCommit) => Promise<T>,
  ): Promise<T> {
    const effects: Array<() => void> = [];
    const result = await store.transaction((tx) => {
      effects.length = 0;
      return work(tx, (effect) => effects.push(effect));
    });
    for (const effect of effects) this.perform(effect);
    return result;
  }

  private perform(effect: () => void): void {
    try {
      effect();
    } catch (error) {
      // the message is applied and recorded; a failing effect must not make it redelivered
      this.options.log.error({ err: error }, 'inbound: effect after commit failed');
    }
  }
}

import type { Store, Transaction } from '../store/index.js';
import type { Logger } from '../util/log.js';
import {
  decodeOneOf,
  type Envelope,
  InvalidMessage,
  type MessageBody,
  type MessageType,
} from './messages.js';
import { parseKioskTopic } from './topics.js';

/** Applies one inbound message inside the transaction that records it as applied. */
export type InboundHandler<T extends MessageType> = (
  message: Envelope<MessageBody<T>>,
  tx: Transaction,
) => Promise<void>;

export interface InboundHandlers {
  manifest?: InboundHandler<'manifest.entry'>;
  command?: InboundHandler<'command.request'>;
  updateStatus?: InboundHandler<'update.status'>;
}

export type InboundOutcome = 'applied' | 'duplicate' | 'rejected' | 'ignored';

/** Which message types each inbound leaf topic carries (DESIGN.md "MQTT API"). */
const LEAF_TYPES = {
  manifest: ['manifest.entry'],
  cmd: ['command.request'],
  updates: ['update.status'],
} as const satisfies Record<string, readonly MessageType[]>;

/**
 * Commands and manifest entries arrive at least once (QoS 1). Each carries an id; the inbox table
 * remembers applied ids in the same transaction as the change they cause, so a redelivery is
 * acknowledged and not applied twice — even across a crash between applying and PUBACK.
 */
export class InboundRouter {
  readonly counts: Record<InboundOutcome, number> = { applied: 0, duplicate: 0, rejected: 0, ignored: 0 };

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
    let message: Envelope<MessageBody<'manifest.entry' | 'command.request' | 'update.status'>> & {
      type: 'manifest.entry' | 'command.request' | 'update.status';
    };
    try {
      message = decodeOneOf(payload, LEAF_TYPES[leaf]);
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn({ topic: leaf, reason: error.reason }, 'link: invalid inbound message rejected');
      return 'rejected';
    }
    if (message.expiresAt && Date.parse(message.expiresAt) < Date.now()) {
      this.options.log.warn({ topic: leaf, id: message.id }, 'link: expired inbound message rejected');
      return 'rejected';
    }
    const store = this.options.store;
    if (!store) return 'ignored';
    const { handlers } = this.options;
    return store.transaction(async (tx) => {
      if (!(await tx.markApplied(message.id, message.type))) return 'duplicate';
      if (message.type === 'manifest.entry')
        await handlers.manifest?.(message as Envelope<MessageBody<'manifest.entry'>>, tx);
      else if (message.type === 'update.status')
        await handlers.updateStatus?.(message as Envelope<MessageBody<'update.status'>>, tx);
      else await handlers.command?.(message as Envelope<MessageBody<'command.request'>>, tx);
      return 'applied';
    });
  }
}

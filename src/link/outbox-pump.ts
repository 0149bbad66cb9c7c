import type { OutboxRow, Store } from '../store/index.js';
import type { Logger } from '../util/log.js';
import type { Envelope } from './messages.js';

const ACK_BATCH = 500;
const ACK_GATHER_MS = 20;

/** What the pump needs of an MQTT connection: QoS 1 publish whose callback means PUBACK. */
export interface PumpTransport {
  readonly connected: boolean;
  publish(topic: string, payload: string, done: (error?: Error) => void): void;
}

export interface OutboxPumpOptions {
  store: Store;
  transport: PumpTransport;
  kioskId: string;
  log: Logger;
  /** most events published and not yet acknowledged */
  window: number;
  /** rows read from the outbox per query */
  pageSize: number;
}

/**
 * Drains the outbox to the broker: in `seq` order, at QoS 1, at most `window` unacknowledged at a
 * time, deleting a row only after its PUBACK. The SQLite outbox is the truth — mqtt.js's in-memory
 * store is not: after every (re)connect the pump starts again from the oldest row, so whatever was
 * in flight when the link or the process died is sent again (the registry dedupes by event id), and
 * events enqueued meanwhile wait behind that replay. Only one page and the window are in memory.
 */
export class OutboxPump {
  private cursor = 0;
  private generation = 0;
  private readonly inFlight = new Set<number>();
  private acked: number[] = [];
  private ackFlush: Promise<void> | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  private published = 0;
  private acknowledged = 0;

  constructor(private readonly options: OutboxPumpOptions) {}

  get stats(): { published: number; acknowledged: number; inFlight: number } {
    return { published: this.published, acknowledged: this.acknowledged, inFlight: this.inFlight.size };
  }

  /** The link (re)connected: replay from the oldest unacknowledged row. */
  onConnect(): void {
    this.cursor = 0;
    this.generation++;
    this.inFlight.clear();
    this.kick();
  }

  /** Something may be sendable: new events committed, an ack freed the window, a connect. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.run()
      .catch((error: unknown) => this.options.log.error({ err: error }, 'pump: paused after an error'))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async run(): Promise<void> {
    const { store, transport, window, pageSize } = this.options;
    for (;;) {
      this.again = false;
      if (this.stopped || !transport.connected) return;
      const room = window - this.inFlight.size;
      // Refill in pages, not one row per ack: wait until half a page is free (an ack kicks us again).
      if (room <= 0 || (this.inFlight.size > 0 && room < Math.min(pageSize, window) / 2)) return;
      const generation = this.generation;
      const limit = Math.min(room, pageSize);
      const rows = await store.outboxPage(this.cursor, limit);
      if (generation !== this.generation) continue; // reconnected meanwhile: replay from the start
      for (const row of rows) {
        if (!transport.connected) return;
        this.send(row);
      }
      // A short page is the end of the outbox: no need to ask again for an empty one. A commit
      // during the read set `again`, and `kick` runs the pump once more for it.
      if (rows.length < limit) return;
    }
  }

  private send(row: OutboxRow): void {
    // The body is stored as JSON already: splice it in rather than parse and re-serialise it
    // (half the work and garbage per event while draining a long queue).
    const head: Omit<Envelope, 'body'> = {
      id: row.event_id,
      type: row.type,
      ts: new Date(row.created_at).toISOString(),
      from: this.options.kioskId,
      seq: row.seq,
    };
    const payload = `${JSON.stringify(head).slice(0, -1)},"body":${row.body}}`;
    this.cursor = row.seq;
    this.inFlight.add(row.seq);
    this.published++;
    this.options.transport.publish(row.topic, payload, (error) => {
      this.inFlight.delete(row.seq);
      // A PUBACK is a PUBACK even if it arrives after a reconnect: the row may go.
      if (!error) {
        this.acknowledged++;
        this.acked.push(row.seq);
        this.ackFlush ??= this.flushAcks();
      }
      this.kick();
    });
  }

  /** Deletes acknowledged rows in batches (one group-committed transaction per batch). */
  private async flushAcks(): Promise<void> {
    try {
      while (this.acked.length > 0) {
        // Each deletion is a durable commit (an fsync): gather acks for a moment so a fast drain
        // deletes hundreds of rows per commit. A deletion lost to a crash only means a duplicate.
        if (this.acked.length < ACK_BATCH && !this.stopped)
          await new Promise((done) => setTimeout(done, ACK_GATHER_MS));
        const batch = this.acked;
        this.acked = [];
        await this.options.store.removeFromOutbox(batch).catch((error: unknown) => {
          // The rows stay and are published again later; the registry dedupes them.
          this.options.log.warn(
            { err: error, rows: batch.length },
            'pump: could not delete acknowledged rows',
          );
        });
      }
    } finally {
      this.ackFlush = undefined;
    }
  }

  /** Waits for pending deletions; publishing stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.ackFlush;
  }
}

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { withTimeout } from '../link/link.js';
import { decodeMessage, decodeOneOf, EVENT_TYPES, envelope, InvalidMessage } from '../link/messages.js';
import { RegistryCitizens } from './citizens.js';
import { parseKioskTopic, sharedTopics, topics } from '../link/topics.js';
import { SqliteDatabase } from '../store/sqlite.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import { type CaFiles, EnrolmentDesk, type TokenPurpose } from './enrolment.js';
import { loadOrCreateRegistryKeys, type RegistryKeys } from './keys.js';

/** What arrived from one kiosk's outbox: tests and operators read it. */
export interface EventCounts {
  kioskId: string;
  /** distinct events kept */
  received: number;
  /** redeliveries dropped because the event id was already kept */
  duplicates: number;
  /** distinct events whose seq was lower than one that arrived before them */
  outOfOrder: number;
}

export interface KioskPresence {
  kioskId: string;
  online: boolean;
  version: string | null;
  updatedAt: string;
}

/**
 * The reference central registry used by the demo and the tests: a real MQTT client with its own
 * SQLite file. It follows every kiosk's retained status; later issues add events, manifests and
 * requests.
 */
export class ReferenceRegistry implements Service {
  readonly name = 'registry';
  private client: MqttClient | undefined;
  private db: SqliteDatabase | undefined;
  private readonly pendingEvents: Array<{
    kioskId: string;
    eventId: string;
    seq: number | null;
    type: string;
    body: string;
  }> = [];
  private eventWriter: Promise<void> | undefined;
  private readonly counters = new Map<string, { duplicates: number; outOfOrder: number; maxSeq: number }>();
  /** citizens, staged pickups and data updates (issue 6) */
  private citizensPart: RegistryCitizens | undefined;

  constructor(
    private readonly options: {
      brokerUrl: string;
      databaseFile: string;
      log: Logger;
      /** a stable id gives the registry a persistent session: nothing is missed while it reconnects */
      clientId?: string;
      protocolVersion?: 4 | 5;
      /** TLS client identity of the registry itself (a Mosquitto with client certificates) */
      tls?: { ca: string; cert: string; key: string };
      /** answers enrolments on the bootstrap topic, signing with this CA (see enrolment.ts) */
      enrolmentCa?: CaFiles;
      /** its signing and sealing keys (default: `<databaseFile>.keys.json`, made at first start) */
      keys?: RegistryKeys;
      /**
       * Scale out: read the kiosks' topics through MQTT 5 shared subscriptions
       * (`$share/<group>/…`), so the instances of one group split the fleet's messages, each
       * message going to one of them (see sharedTopics). Needs a broker that supports them
       * (Mosquitto ≥ 1.6, EMQX, VerneMQ, HiveMQ); the embedded demo broker does not.
       */
      shareGroup?: string;
    },
  ) {
    this.keys = options.keys ?? loadOrCreateRegistryKeys(`${options.databaseFile}.keys.json`);
  }

  /** The registry's keys; kiosks pin the public halves (`fleet.registrySigningKey`/`SealingKey`). */
  readonly keys: RegistryKeys;

  private enrolment: EnrolmentDesk | undefined;

  /**
   * Operations register `kioskId` and get a one-time token bound to it: `enrol` for a new kiosk,
   * `re-enrol` to replace an enrolled kiosk's certificate and keys. Needs `enrolmentCa`.
   */
  async issueEnrolmentToken(kioskId: string, purpose: TokenPurpose = 'enrol'): Promise<string> {
    if (!this.enrolment) throw new Error('registry: enrolment is not configured (no enrolmentCa)');
    await this.enrolment.registerKiosk(kioskId);
    return this.enrolment.issueToken(kioskId, purpose);
  }

  /** The X25519 sealing public key (base64) a kiosk handed over at enrolment. */
  async sealingPublicKey(kioskId: string): Promise<string | undefined> {
    return this.enrolment?.sealingPublicKey(kioskId);
  }

  async start(): Promise<void> {
    const db = await SqliteDatabase.open(this.options.databaseFile);
    await db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS kiosks (
        kiosk_id   TEXT PRIMARY KEY,
        online     INTEGER NOT NULL,
        version    TEXT,
        updated_at TEXT NOT NULL
      );
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS events (
        arrival     INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id    TEXT NOT NULL UNIQUE,
        kiosk_id    TEXT NOT NULL,
        seq         INTEGER,
        type        TEXT NOT NULL,
        body        TEXT NOT NULL,
        received_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS event_counters (
        kiosk_id     TEXT PRIMARY KEY,
        duplicates   INTEGER NOT NULL DEFAULT 0,
        out_of_order INTEGER NOT NULL DEFAULT 0,
        max_seq      INTEGER NOT NULL DEFAULT 0
      );`);
    this.db = db;
    if (this.options.enrolmentCa) this.enrolment = await EnrolmentDesk.open(db, this.options.enrolmentCa);
    const tls = this.options.tls;
    const tlsOptions = tls
      ? {
          ca: await readFile(tls.ca),
          cert: await readFile(tls.cert),
          key: await readFile(tls.key),
          rejectUnauthorized: true,
        }
      : {};
    this.citizensPart = await RegistryCitizens.open(db, {
      log: this.options.log,
      keys: this.keys,
      publish: (topic, message) =>
        new Promise<void>((resolve, reject) => {
          const client = this.client;
          if (!client) return reject(new Error('registry is not connected'));
          client.publish(topic, JSON.stringify(message), { qos: 1 }, (error) =>
            error ? reject(error) : resolve(),
          );
        }),
    });
    const persistent = this.options.clientId !== undefined;
    const client = mqtt.connect(this.options.brokerUrl, {
      // unique without a configured id: two members of a share group (or two registries on two
      // hosts with the same pid) with one client id would take the connection from each other
      clientId: this.options.clientId ?? `registry-${process.pid}-${randomBytes(4).toString('hex')}`,
      protocolVersion: this.options.protocolVersion ?? 4,
      clean: !persistent,
      ...(persistent && this.options.protocolVersion === 5
        ? { properties: { sessionExpiryInterval: 3600 } }
        : {}),
      reconnectPeriod: 500,
      ...tlsOptions,
    });
    this.client = client;
    // PUBACK only after the message is stored: a registry crash cannot lose an acknowledged event.
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      this.onMessage(packet.topic, payload)
        .catch((error: unknown) =>
          this.options.log.error({ err: error, topic: packet.topic }, 'registry: handling a message failed'),
        )
        .finally(() => done());
    };
    const subscriptions = sharedTopics(
      [
        topics.allStatuses(),
        topics.allEvents(),
        topics.allRegistryRequests(),
        ...(this.enrolment ? [topics.bootstrapEnrol()] : []),
      ],
      this.options.shareGroup,
    );
    // A broker that lost our session (restarted without persistence) needs the subscriptions again.
    client.on('connect', (connack) => {
      if (!connack.sessionPresent)
        client.subscribe(subscriptions, { qos: 1 }, (error) => {
          if (error) this.options.log.warn({ err: error.message }, 'registry: resubscribe failed');
        });
    });
    await client.subscribeAsync(subscriptions, { qos: 1 });
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (topic.startsWith(topics.registryRequest(''))) return this.onRequest(topic, payload);
    if (topic === topics.bootstrapEnrol()) return this.onEnrol(payload);
    const parsed = parseKioskTopic(topic);
    if (parsed?.leaf === 'events') return void this.onEvent(parsed.kioskId, payload);
    if (parsed?.leaf !== 'status' || payload.length === 0) return;
    let online: boolean;
    let version: string | null;
    let sealingKey: string | undefined;
    try {
      const message = decodeMessage(payload, 'kiosk.status');
      online = message.body.online;
      version = message.body.version ?? null;
      sealingKey = message.body.sealingKey;
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn(
        { kioskId: parsed.kioskId, reason: error.reason },
        'registry: invalid status rejected',
      );
      return;
    }
    await this.db?.run(
      `INSERT INTO kiosks (kiosk_id, online, version, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (kiosk_id) DO UPDATE SET online = excluded.online,
         version = COALESCE(excluded.version, kiosks.version), updated_at = excluded.updated_at`,
      [parsed.kioskId, online ? 1 : 0, version, new Date().toISOString()],
    );
    this.options.log.info({ kioskId: parsed.kioskId, online }, 'registry: kiosk presence');
    // the key to seal this kiosk's pickups to; pickups waiting for it go out now
    // Not awaited: staging publishes and waits for PUBACKs on the packet stream this handler holds.
    if (sealingKey)
      void this.citizensPart
        ?.learnKioskKey(parsed.kioskId, sealingKey)
        .catch((error: unknown) =>
          this.options.log.warn({ err: (error as Error).message }, 'registry: staging for a kiosk failed'),
        );
  }

  private onEvent(kioskId: string, payload: Buffer): void {
    let message;
    try {
      message = decodeOneOf(payload, EVENT_TYPES);
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn({ kioskId, reason: error.reason }, 'registry: invalid event rejected');
      return;
    }
    this.pendingEvents.push({
      kioskId,
      eventId: message.id,
      seq: message.seq ?? null,
      type: message.type,
      body: JSON.stringify(message.body),
    });
    this.eventWriter ??= this.writeEvents();
  }

  /**
   * Writes arrived events in arrival order, many per transaction. The reference registry
   * acknowledges an event once it is queued here (a production registry would ack after commit).
   */
  private async writeEvents(): Promise<void> {
    try {
      while (this.pendingEvents.length > 0 && this.db) {
        const db = this.db;
        const batch = this.pendingEvents.splice(0, 1000);
        await db.exec('BEGIN IMMEDIATE');
        const touched = new Set<string>();
        const fresh: typeof batch = [];
        for (const event of batch) {
          const counters = await this.countersOf(event.kioskId);
          touched.add(event.kioskId);
          const inserted = await db.run(
            `INSERT OR IGNORE INTO events (event_id, kiosk_id, seq, type, body, received_at) VALUES (?, ?, ?, ?, ?, ?)`,
            [event.eventId, event.kioskId, event.seq, event.type, event.body, new Date().toISOString()],
          );
          if (inserted.changes === 0) counters.duplicates++;
          else fresh.push(event);
          if (inserted.changes !== 0 && event.seq !== null) {
            if (event.seq < counters.maxSeq) counters.outOfOrder++;
            counters.maxSeq = Math.max(counters.maxSeq, event.seq);
          }
        }
        for (const kioskId of touched) {
          const counters = await this.countersOf(kioskId);
          await db.run(
            `INSERT INTO event_counters (kiosk_id, duplicates, out_of_order, max_seq) VALUES (?, ?, ?, ?)
             ON CONFLICT (kiosk_id) DO UPDATE SET duplicates = excluded.duplicates,
               out_of_order = excluded.out_of_order, max_seq = excluded.max_seq`,
            [kioskId, counters.duplicates, counters.outOfOrder, counters.maxSeq],
          );
        }
        await db.exec('COMMIT');
        // act on each event once: only the ones this commit kept for the first time
        for (const event of fresh)
          await this.citizensPart
            ?.onEvent(event.kioskId, event.type, JSON.parse(event.body) as unknown)
            .catch((error: unknown) =>
              this.options.log.warn(
                { err: (error as Error).message, type: event.type },
                'registry: event not acted on',
              ),
            );
      }
    } catch (error) {
      this.options.log.error({ err: error }, 'registry: writing events failed');
      await this.db?.exec('ROLLBACK').catch(() => undefined);
    } finally {
      this.eventWriter = undefined;
    }
  }

  private async countersOf(
    kioskId: string,
  ): Promise<{ duplicates: number; outOfOrder: number; maxSeq: number }> {
    let counters = this.counters.get(kioskId);
    if (!counters) {
      const row = await this.db?.get<{ duplicates: number; out_of_order: number; max_seq: number }>(
        'SELECT duplicates, out_of_order, max_seq FROM event_counters WHERE kiosk_id = ?',
        [kioskId],
      );
      counters = {
        duplicates: row?.duplicates ?? 0,
        outOfOrder: row?.out_of_order ?? 0,
        maxSeq: row?.max_seq ?? 0,
      };
      this.counters.set(kioskId, counters);
    }
    return counters;
  }

  /** Resolves once every event that has arrived is written. */
  async settled(): Promise<void> {
    while (this.eventWriter) await this.eventWriter;
  }

  /** Answers `registry/req/ping` on the requester's replyTo with the same correlationId. */
  private async onRequest(topic: string, payload: Buffer): Promise<void> {
    const op = topic.slice(topics.registryRequest('').length);
    if (op === 'finger-verify') return this.answerFingerVerify(payload);
    if (op !== 'ping') return;
    let request;
    try {
      request = decodeMessage(payload, 'registry.ping');
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn({ op, reason: error.reason }, 'registry: invalid request rejected');
      return;
    }
    if (!request.replyTo || !request.correlationId || !parseKioskTopic(request.replyTo)) return;
    const answer = envelope(
      'registry.pong',
      'registry',
      { at: new Date().toISOString() },
      {
        correlationId: request.correlationId,
      },
    );
    // Not awaited: the PUBACK arrives on the packet stream this handler is holding up.
    this.client?.publish(request.replyTo, JSON.stringify(answer), { qos: 1 }, (error) => {
      if (error) this.options.log.warn({ err: error.message }, 'registry: answer not sent');
    });
  }

  /**
   * `enrol.request` on the bootstrap topic → `enrol.response` on the requester's reply topic
   * (`bootstrap/reply/<its client id>`; the broker lets only that client read it).
   */
  private async onEnrol(payload: Buffer): Promise<void> {
    const desk = this.enrolment;
    if (!desk) return;
    let request;
    try {
      request = decodeMessage(payload, 'enrol.request');
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn({ reason: error.reason }, 'registry: invalid enrolment rejected');
      return;
    }
    const replyPrefix = topics.bootstrapReply('x').slice(0, -1);
    if (!request.replyTo?.startsWith(replyPrefix) || !request.correlationId) {
      this.options.log.warn('registry: enrolment without a bootstrap reply topic rejected');
      return;
    }
    const answer = await desk.enrol(request.body);
    this.options.log.info(
      {
        kioskId: request.body.kioskId,
        status: answer.status,
        ...(answer.status === 'refused' ? { reason: answer.reason } : {}),
      },
      'registry: enrolment',
    );
    const reply = envelope('enrol.response', 'registry', answer, { correlationId: request.correlationId });
    this.client?.publish(request.replyTo, JSON.stringify(reply), { qos: 1 }, (error) => {
      if (error) this.options.log.warn({ err: error.message }, 'registry: enrolment answer not sent');
    });
  }

  /** `registry/req/finger-verify`: 1:1 against the citizen's enrolled template; the record if matched. */
  private async answerFingerVerify(payload: Buffer): Promise<void> {
    let request;
    try {
      request = decodeMessage(payload, 'registry.fingerVerify');
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
      this.options.log.warn(
        { op: 'finger-verify', reason: error.reason },
        'registry: invalid request rejected',
      );
      return;
    }
    if (!request.replyTo || !request.correlationId || !parseKioskTopic(request.replyTo)) return;
    const body = (await this.citizensPart?.verifyFinger(request.body.idNumber, request.body.template)) ?? {
      matched: false,
    };
    const answer = envelope('registry.fingerVerified', 'registry', body, {
      correlationId: request.correlationId,
    });
    this.client?.publish(request.replyTo, JSON.stringify(answer), { qos: 1 }, (error) => {
      if (error) this.options.log.warn({ err: error.message }, 'registry: answer not sent');
    });
  }

  /** Citizens, staged pickups and data updates (issue 6): see citizens.ts. */
  get citizens(): RegistryCitizens {
    if (!this.citizensPart) throw new Error('registry is not started');
    return this.citizensPart;
  }

  /** Per-kiosk counts of events kept, duplicates removed and events out of order. */
  async eventCounts(kioskId: string): Promise<EventCounts> {
    await this.settled();
    const db = this.db;
    const counters = await db?.get<{ duplicates: number; out_of_order: number }>(
      'SELECT duplicates, out_of_order FROM event_counters WHERE kiosk_id = ?',
      [kioskId],
    );
    const received = await db?.get<{ n: number }>('SELECT COUNT(*) AS n FROM events WHERE kiosk_id = ?', [
      kioskId,
    ]);
    return {
      kioskId,
      received: received?.n ?? 0,
      duplicates: counters?.duplicates ?? 0,
      outOfOrder: counters?.out_of_order ?? 0,
    };
  }

  /** The events kept from one kiosk, in arrival order (paged). */
  async events(
    kioskId: string,
    afterArrival = 0,
    limit = 1000,
  ): Promise<Array<{ arrival: number; eventId: string; seq: number | null; type: string; body: unknown }>> {
    const rows =
      (await this.db?.all<{
        arrival: number;
        event_id: string;
        seq: number | null;
        type: string;
        body: string;
      }>(
        'SELECT arrival, event_id, seq, type, body FROM events WHERE kiosk_id = ? AND arrival > ? ORDER BY arrival LIMIT ?',
        [kioskId, afterArrival, limit],
      )) ?? [];
    return rows.map((row) => ({
      arrival: row.arrival,
      eventId: row.event_id,
      seq: row.seq,
      type: row.type,
      body: JSON.parse(row.body) as unknown,
    }));
  }

  async kiosks(): Promise<KioskPresence[]> {
    const rows = await (this.db?.all<{
      kiosk_id: string;
      online: number;
      version: string | null;
      updated_at: string;
    }>('SELECT * FROM kiosks ORDER BY kiosk_id') ?? Promise.resolve([]));
    return rows.map((row) => ({
      kioskId: row.kiosk_id,
      online: row.online === 1,
      version: row.version,
      updatedAt: row.updated_at,
    }));
  }

  async stop(): Promise<void> {
    const { client } = this;
    this.client = undefined;
    if (client) await withTimeout(client.endAsync(), 1000).catch(() => client.end(true));
    await this.settled();
    const { db } = this;
    this.db = undefined;
    if (db) await db.close();
  }

  health(): Health {
    return this.client?.connected ? { state: 'up' } : { state: 'degraded', detail: 'broker not connected' };
  }
}

import mqtt, { type MqttClient } from 'mqtt';
import { withTimeout } from '../link/link.js';
import { decodeMessage, InvalidMessage } from '../link/messages.js';
import { parseKioskTopic, topics } from '../link/topics.js';
import { SqliteDatabase } from '../store/sqlite.js';
import type { Health, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';

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

  constructor(private readonly options: { brokerUrl: string; databaseFile: string; log: Logger }) {}

  async start(): Promise<void> {
    const db = await SqliteDatabase.open(this.options.databaseFile);
    await db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS kiosks (
        kiosk_id   TEXT PRIMARY KEY,
        online     INTEGER NOT NULL,
        version    TEXT,
        updated_at TEXT NOT NULL
      );`);
    this.db = db;
    const client = mqtt.connect(this.options.brokerUrl, {
      clientId: `registry-${process.pid}`,
      protocolVersion: 4,
      reconnectPeriod: 1000,
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      void this.onMessage(topic, payload).catch((error: unknown) =>
        this.options.log.error({ err: error, topic }, 'registry: handling a message failed'),
      );
    });
    await client.subscribeAsync(topics.allStatuses(), { qos: 1 });
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    const parsed = parseKioskTopic(topic);
    if (parsed?.leaf !== 'status' || payload.length === 0) return;
    let online: boolean;
    let version: string | null;
    try {
      const message = decodeMessage(payload, 'kiosk.status');
      online = message.body.online;
      version = message.body.version ?? null;
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
    const { client, db } = this;
    this.client = undefined;
    this.db = undefined;
    if (client) await withTimeout(client.endAsync(), 1000).catch(() => client.end(true));
    if (db) await db.close();
  }

  health(): Health {
    return this.client?.connected ? { state: 'up' } : { state: 'degraded', detail: 'broker not connected' };
  }
}

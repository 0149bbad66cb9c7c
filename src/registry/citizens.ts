/**
 * The reference registry's citizen side (issue 6): the citizens it knows (fabricated, for the demo
 * and the tests), the pickups it stages at kiosks — secrets sealed to the kiosk's X25519 key,
 * learnt from the kiosk's retained status (`sealingKey`) or set directly — fingerprint verification for
 * the data update flow, and the updates it receives and decides on (`update.status`).
 */
import { z } from 'zod';
import {
  ContactRecordSchema,
  type Envelope,
  envelope,
  type MessageBody,
  UpdateSubmissionSchema,
  UpdateSubmittedBodySchema,
} from '../link/messages.js';
import { randomBytes } from 'node:crypto';
import { signEnvelope } from '../fleet/signing.js';
import { topics } from '../link/topics.js';
import { hpkeOpen, hpkeSeal, manifestInfo, updateInfo } from '../store/hpke.js';
import { publicKeyFromRaw } from '../store/seal.js';
import type { RegistryKeys } from './keys.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import type { Logger } from '../util/log.js';
import { SAMPLE_GAZETTEER } from './gazetteer-sample.js';

export interface RegistryCitizen {
  idNumber: string;
  /** the MRZ lines printed on (and stored in DG1 of) the citizen's new card */
  mrzLines: string[];
  /** the enrolled fingerprint template */
  fingerTemplate: Buffer;
  contact: z.infer<typeof ContactRecordSchema>;
}

/**
 * Bytes of a template that identify the finger (the sensor's own matcher compares these; a
 * stand-in for a real 1:1 matcher on the registry side, enough for emulated fingers).
 */
const IDENTITY_BYTES = 32;

type Publish = (topic: string, message: Envelope) => Promise<void>;

/** How long a manifest entry or update status may still be applied (the kiosk's bound is 7 days). */
const MESSAGE_LIFETIME_MS = 7 * 24 * 3600_000;

export class RegistryCitizens {
  private constructor(
    private readonly db: SqliteDatabase,
    private readonly options: { log: Logger; publish: Publish; keys: RegistryKeys },
  ) {}

  static async open(
    db: SqliteDatabase,
    options: { log: Logger; publish: Publish; keys: RegistryKeys },
  ): Promise<RegistryCitizens> {
    await db.exec(`
      CREATE TABLE IF NOT EXISTS citizens (
        id_number       TEXT PRIMARY KEY,
        mrz             TEXT NOT NULL,
        finger_template BLOB NOT NULL,
        contact         TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS kiosk_keys (
        kiosk_id   TEXT PRIMARY KEY,
        public_key TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS pickups (
        pickup_id TEXT PRIMARY KEY,
        kiosk_id  TEXT NOT NULL,
        id_number TEXT NOT NULL,
        state     TEXT NOT NULL CHECK (state IN ('waiting-for-key', 'staged', 'completed', 'retracted'))
      );
      CREATE TABLE IF NOT EXISTS updates (
        tracking_code TEXT PRIMARY KEY,
        kiosk_id      TEXT NOT NULL,
        id_number     TEXT NOT NULL,
        changes       TEXT NOT NULL,
        state         TEXT NOT NULL
      );`);
    return new RegistryCitizens(db, options);
  }

  async addCitizen(citizen: RegistryCitizen): Promise<void> {
    await this.db.run(
      `INSERT INTO citizens (id_number, mrz, finger_template, contact) VALUES (?, ?, ?, ?)
       ON CONFLICT (id_number) DO UPDATE SET mrz = excluded.mrz, finger_template = excluded.finger_template,
         contact = excluded.contact`,
      [
        citizen.idNumber,
        citizen.mrzLines.join('\n'),
        citizen.fingerTemplate,
        JSON.stringify(citizen.contact),
      ],
    );
  }

  /** A key from the kiosk's retained status: stored (and acted on) only when it is new. */
  async learnKioskKey(kioskId: string, publicKey: string): Promise<void> {
    const known = await this.db.get<{ public_key: string }>(
      'SELECT public_key FROM kiosk_keys WHERE kiosk_id = ?',
      [kioskId],
    );
    if (known?.public_key !== publicKey) await this.setKioskKey(kioskId, publicKey);
  }

  /** The kiosk's sealing key (from its status, or set by operations): pending pickups go out now. */
  async setKioskKey(kioskId: string, publicKey: string): Promise<void> {
    publicKeyFromRaw(Buffer.from(publicKey, 'base64')); // refuse a key that is not X25519
    await this.db.run(
      `INSERT INTO kiosk_keys (kiosk_id, public_key) VALUES (?, ?)
       ON CONFLICT (kiosk_id) DO UPDATE SET public_key = excluded.public_key`,
      [kioskId, publicKey],
    );
    const waiting = await this.db.all<{ pickup_id: string; id_number: string }>(
      `SELECT pickup_id, id_number FROM pickups WHERE kiosk_id = ? AND state = 'waiting-for-key'`,
      [kioskId],
    );
    for (const row of waiting) await this.sendStage(kioskId, row.pickup_id, row.id_number, publicKey);
  }

  /** Stages a pickup of the citizen's new card at a kiosk (sent once the kiosk's key is known). */
  async stagePickup(kioskId: string, pickupId: string, idNumber: string): Promise<void> {
    await this.db.run(
      `INSERT INTO pickups (pickup_id, kiosk_id, id_number, state) VALUES (?, ?, ?, 'waiting-for-key')
       ON CONFLICT (pickup_id) DO NOTHING`,
      [pickupId, kioskId, idNumber],
    );
    const key = await this.db.get<{ public_key: string }>(
      'SELECT public_key FROM kiosk_keys WHERE kiosk_id = ?',
      [kioskId],
    );
    if (key) await this.sendStage(kioskId, pickupId, idNumber, key.public_key);
  }

  async withdrawPickup(kioskId: string, pickupId: string): Promise<void> {
    await this.options.publish(
      topics.manifest(kioskId),
      this.signedFor(kioskId, 'manifest.entry', { pickupId, action: 'withdraw' }),
    );
  }

  /** Signed by the registry key, bound to one kiosk, with a nonce, an issue time and an expiry. */
  private signedFor<T extends 'manifest.entry' | 'update.status'>(
    kioskId: string,
    type: T,
    body: MessageBody<T>,
  ): Envelope<MessageBody<T>> {
    const now = Date.now();
    return signEnvelope(
      envelope(type, 'registry', body, {
        ts: new Date(now).toISOString(),
        expiresAt: new Date(now + MESSAGE_LIFETIME_MS).toISOString(),
        to: kioskId,
        nonce: randomBytes(16).toString('base64url'),
      }),
      this.options.keys.signing,
    );
  }

  private async sendStage(
    kioskId: string,
    pickupId: string,
    idNumber: string,
    publicKey: string,
  ): Promise<void> {
    const citizen = await this.db.get<{ mrz: string; finger_template: Buffer }>(
      'SELECT mrz, finger_template FROM citizens WHERE id_number = ?',
      [idNumber],
    );
    if (!citizen) throw new Error(`no citizen record for pickup ${pickupId}`);
    const secrets = {
      idNumber,
      mrzLines: citizen.mrz.split('\n'),
      fingerTemplate: Buffer.from(citizen.finger_template).toString('base64'),
    };
    // HPKE auth mode from the registry's key, bound to this kiosk and pickup (src/store/hpke.ts)
    const sealed = await hpkeSeal(Buffer.from(JSON.stringify(secrets)), {
      recipient: Buffer.from(publicKey, 'base64'),
      sender: this.options.keys.sealing,
      info: manifestInfo(kioskId, pickupId),
    });
    await this.options.publish(
      topics.manifest(kioskId),
      this.signedFor(kioskId, 'manifest.entry', { pickupId, action: 'stage', sealed }),
    );
    await this.db.run(`UPDATE pickups SET state = 'staged' WHERE pickup_id = ?`, [pickupId]);
    this.options.log.info({ kioskId, pickupId }, 'registry: pickup staged');
  }

  async verifyFinger(idNumber: string, template: string): Promise<MessageBody<'registry.fingerVerified'>> {
    const citizen = await this.db.get<{ finger_template: Buffer; contact: string }>(
      'SELECT finger_template, contact FROM citizens WHERE id_number = ?',
      [idNumber],
    );
    const live = Buffer.from(template, 'base64');
    const enrolled = citizen ? Buffer.from(citizen.finger_template) : undefined;
    const matched =
      enrolled !== undefined &&
      live.length >= IDENTITY_BYTES &&
      enrolled.subarray(0, IDENTITY_BYTES).equals(live.subarray(0, IDENTITY_BYTES));
    if (!matched || !citizen) return { matched: false };
    const contact = ContactRecordSchema.parse(JSON.parse(citizen.contact));
    return { matched: true, record: contact, gazetteer: SAMPLE_GAZETTEER };
  }

  /** Acts on a kiosk event seen for the first time (the events table dedupes by id). */
  async onEvent(kioskId: string, type: string, body: unknown): Promise<void> {
    if (type === 'pickup.completed' || type === 'pickup.retracted') {
      const { pickupId } = z.object({ pickupId: z.string() }).parse(body);
      await this.db.run('UPDATE pickups SET state = ? WHERE pickup_id = ?', [
        type === 'pickup.completed' ? 'completed' : 'retracted',
        pickupId,
      ]);
      return;
    }
    if (type === 'update.submitted') {
      const { trackingCode, sealed } = UpdateSubmittedBodySchema.parse(body);
      const update = await this.openSubmission(kioskId, trackingCode, sealed);
      await this.db.run(
        `INSERT OR IGNORE INTO updates (tracking_code, kiosk_id, id_number, changes, state) VALUES (?, ?, ?, ?, 'received')`,
        [trackingCode, kioskId, update.idNumber, JSON.stringify(update.changes)],
      );
      await this.setUpdateStatus(kioskId, trackingCode, 'received');
    }
  }

  /** Opens an update sealed to the registry by the kiosk whose sealing key it knows (HPKE auth mode). */
  private async openSubmission(kioskId: string, trackingCode: string, sealed: string) {
    const key = await this.db.get<{ public_key: string }>(
      'SELECT public_key FROM kiosk_keys WHERE kiosk_id = ?',
      [kioskId],
    );
    if (!key) throw new Error(`no sealing key known for kiosk ${kioskId}`);
    const plaintext = await hpkeOpen(sealed, {
      recipient: this.options.keys.sealing,
      sender: Buffer.from(key.public_key, 'base64'),
      info: updateInfo(kioskId, trackingCode),
    });
    return UpdateSubmissionSchema.parse(JSON.parse(plaintext.toString('utf8')));
  }

  /** Decides on an update and tells the kiosk (`update.status`, QoS 1, deduped by the kiosk's inbox). */
  async setUpdateStatus(
    kioskId: string,
    trackingCode: string,
    state: 'received' | 'approved' | 'rejected' | 'pending',
    note?: string,
  ): Promise<void> {
    await this.db.run('UPDATE updates SET state = ? WHERE tracking_code = ?', [state, trackingCode]);
    await this.options.publish(
      topics.updates(kioskId),
      this.signedFor(kioskId, 'update.status', { trackingCode, state, ...(note ? { note } : {}) }),
    );
  }

  async pickupState(pickupId: string): Promise<string | undefined> {
    return (await this.db.get<{ state: string }>('SELECT state FROM pickups WHERE pickup_id = ?', [pickupId]))
      ?.state;
  }

  async update(trackingCode: string): Promise<{ state: string; changes: unknown } | undefined> {
    const row = await this.db.get<{ state: string; changes: string }>(
      'SELECT state, changes FROM updates WHERE tracking_code = ?',
      [trackingCode],
    );
    return row ? { state: row.state, changes: JSON.parse(row.changes) as unknown } : undefined;
  }
}

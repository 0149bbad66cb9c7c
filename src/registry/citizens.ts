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
  ManifestResyncProofSchema,
  ManifestResyncRequestedBodySchema,
  MAX_RESYNC_PICKUPS,
  type MessageBody,
  UpdateSubmissionSchema,
  UpdateSubmittedBodySchema,
} from '../link/messages.js';
import { randomBytes } from 'node:crypto';
import { signEnvelope } from '../fleet/signing.js';
import { topics } from '../link/topics.js';
import { CLOCK_SKEW_MS } from '../fleet/gate.js';
import { hpkeOpen, hpkeSeal, manifestInfo, resyncInfo, updateInfo } from '../store/hpke.js';
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
        state     TEXT NOT NULL
                  CHECK (state IN ('waiting-for-key', 'staged', 'completed', 'retracted', 'withdrawn'))
      );
      CREATE TABLE IF NOT EXISTS resync_requests (
        request_id  TEXT PRIMARY KEY,
        kiosk_id    TEXT NOT NULL,
        answered_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS updates (
        tracking_code TEXT PRIMARY KEY,
        kiosk_id      TEXT NOT NULL,
        id_number     TEXT NOT NULL,
        changes       TEXT NOT NULL,
        state         TEXT NOT NULL
      );`);
    await allowWithdrawnPickups(db);
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

  /** The X25519 key (base64) this registry seals a kiosk's pickups to, once it knows it. */
  async kioskKey(kioskId: string): Promise<string | undefined> {
    return (
      await this.db.get<{ public_key: string }>('SELECT public_key FROM kiosk_keys WHERE kiosk_id = ?', [
        kioskId,
      ])
    )?.public_key;
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

  /** Withdraws a pickup from its kiosk; a later resync no longer lists it. */
  async withdrawPickup(kioskId: string, pickupId: string): Promise<void> {
    await this.options.publish(
      topics.manifest(kioskId),
      this.signedFor(kioskId, 'manifest.entry', { pickupId, action: 'withdraw' }),
    );
    await this.db.run(`UPDATE pickups SET state = 'withdrawn' WHERE pickup_id = ? AND kiosk_id = ?`, [
      pickupId,
      kioskId,
    ]);
  }

  /**
   * A kiosk asked for its whole manifest (`manifest.resyncRequested`): once its proof opens with
   * the key held for that kiosk, every pickup staged there goes out again as a signed stage entry
   * (sealed afresh; the kiosk keeps the secrets it already holds), then the signed list of them all.
   * A request is answered once.
   */
  async resendManifest(kioskId: string, request: MessageBody<'manifest.resyncRequested'>): Promise<void> {
    const key = await this.db.get<{ public_key: string }>(
      'SELECT public_key FROM kiosk_keys WHERE kiosk_id = ?',
      [kioskId],
    );
    if (!key) throw new Error(`no sealing key known for kiosk ${kioskId}`);
    await this.checkResyncProof(kioskId, request, key.public_key);
    const fresh = await this.db.run(
      'INSERT OR IGNORE INTO resync_requests (request_id, kiosk_id, answered_at) VALUES (?, ?, ?)',
      [request.requestId, kioskId, new Date().toISOString()],
    );
    if (fresh.changes === 0) throw new Error('resync request already answered');
    const staged = await this.db.all<{ pickup_id: string; id_number: string }>(
      `SELECT pickup_id, id_number FROM pickups WHERE kiosk_id = ? AND state IN ('staged', 'waiting-for-key')
         ORDER BY pickup_id`,
      [kioskId],
    );
    if (staged.length > MAX_RESYNC_PICKUPS)
      throw new Error(`${staged.length} pickups staged: more than one resync lists (${MAX_RESYNC_PICKUPS})`);
    for (const row of staged)
      // a stage that cannot be sent stays listed: the kiosk then reports it as not staged
      await this.sendStage(kioskId, row.pickup_id, row.id_number, key.public_key).catch((error: unknown) =>
        this.options.log.warn(
          { kioskId, pickupId: row.pickup_id, err: (error as Error).message },
          'registry: resync stage not sent',
        ),
      );
    await this.options.publish(
      topics.manifest(kioskId),
      this.signedFor(kioskId, 'manifest.resync', {
        requestId: request.requestId,
        pickupIds: staged.map((row) => row.pickup_id),
      }),
    );
    this.options.log.info({ kioskId, pickups: staged.length }, 'registry: manifest re-sent');
  }

  /** The proof opens only if the kiosk's enrolled key sealed it for this kiosk and request id. */
  private async checkResyncProof(
    kioskId: string,
    request: MessageBody<'manifest.resyncRequested'>,
    kioskKey: string,
  ): Promise<void> {
    const plaintext = await hpkeOpen(request.proof, {
      recipient: this.options.keys.sealing,
      sender: Buffer.from(kioskKey, 'base64'),
      info: resyncInfo(kioskId, request.requestId),
    });
    const proof = ManifestResyncProofSchema.parse(JSON.parse(plaintext.toString('utf8')));
    const age = Date.now() - Date.parse(proof.requestedAt);
    if (proof.kioskId !== kioskId || proof.requestId !== request.requestId)
      throw new Error('resync proof names another kiosk or request');
    if (age > MESSAGE_LIFETIME_MS || age < -CLOCK_SKEW_MS) throw new Error('resync request out of date');
  }

  /** Signed by the registry key, bound to one kiosk, with a nonce, an issue time and an expiry. */
  private signedFor<T extends 'manifest.entry' | 'manifest.resync' | 'update.status'>(
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
    if (type === 'manifest.resyncRequested')
      return this.resendManifest(kioskId, ManifestResyncRequestedBodySchema.parse(body));
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

/**
 * Registry files made before pickups could be withdrawn have a CHECK without 'withdrawn': the
 * table is rebuilt with the current one (SQLite cannot alter a CHECK in place).
 */
async function allowWithdrawnPickups(db: SqliteDatabase): Promise<void> {
  const table = await db.get<{ sql: string }>(
    `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'pickups'`,
  );
  if (!table || table.sql.includes("'withdrawn'")) return;
  await db.exec(`
    BEGIN IMMEDIATE;
    ALTER TABLE pickups RENAME TO pickups_before_withdrawn;
    CREATE TABLE pickups (
      pickup_id TEXT PRIMARY KEY,
      kiosk_id  TEXT NOT NULL,
      id_number TEXT NOT NULL,
      state     TEXT NOT NULL
                CHECK (state IN ('waiting-for-key', 'staged', 'completed', 'retracted', 'withdrawn'))
    );
    INSERT INTO pickups SELECT pickup_id, kiosk_id, id_number, state FROM pickups_before_withdrawn;
    DROP TABLE pickups_before_withdrawn;
    COMMIT;`);
}

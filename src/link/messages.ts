/**
 * Every MQTT payload of the API, as zod schemas (DESIGN.md "MQTT API"). The application protocol
 * lives in one JSON envelope so it runs the same over MQTT 3.1.1 and 5 and over any broker;
 * `docs/mqtt-api.yaml` is checked against these schemas.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Upper bound of any payload we accept; larger ones are rejected before JSON parsing. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/**
 * Deepest nesting of arrays and objects we accept. Checked on the raw text before JSON parsing, so
 * no later step (schema, RFC 8785 canonicalisation for the signature) ever recurses deeper.
 */
export const MAX_JSON_DEPTH = 32;

const KIOSK_ID = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/);
/** `to` of a signed message sent to the whole fleet (only `config.push` on `fleet/config`). */
export const WHOLE_FLEET = '*';

export const EnvelopeSchema = z.strictObject({
  id: z.string().min(8).max(64),
  type: z
    .string()
    .regex(/^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/, 'expected a dotted type such as "kiosk.status"'),
  ts: z.iso.datetime({ offset: true }),
  from: z.string().min(1).max(128),
  correlationId: z.string().min(1).max(64).optional(),
  replyTo: z.string().min(1).max(256).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  body: z.unknown(),
  sig: z.string().optional(),
  /** which operations key signed `sig` (first 16 hex of SHA-256 of its raw public key; src/fleet/signing.ts) */
  keyId: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .optional(),
  /** position of an outbox event in its kiosk's outbox: lets the registry check order and gaps */
  seq: z.number().int().positive().optional(),
  /**
   * the kiosk (or explicit list of kiosks) a signed message is for; `*` only on `fleet/config`.
   * Signed with the rest, so a message signed for one kiosk is refused by every other.
   */
  to: z.union([KIOSK_ID, z.array(KIOSK_ID).min(1).max(1000), z.literal(WHOLE_FLEET)]).optional(),
  /** one-time value of a signed message: remembered by the kiosk until the message expires */
  nonce: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,64}$/)
    .optional(),
});
export type Envelope<Body = unknown> = Omit<z.infer<typeof EnvelopeSchema>, 'body'> & { body: Body };

export const DeviceHealthSchema = z.enum(['ok', 'degraded', 'missing', 'disabled']);

export const StatusBodySchema = z.strictObject({
  online: z.boolean(),
  version: z.string().optional(),
  startedAt: z.iso.datetime({ offset: true }).optional(),
  devices: z.record(z.string(), DeviceHealthSchema).optional(),
  queueDepth: z.number().int().min(0).optional(),
  /** config versions in force: the fleet-wide one and this kiosk's own (0: none pushed) */
  configVersions: z
    .strictObject({ fleet: z.number().int().min(0), kiosk: z.number().int().min(0) })
    .optional(),
  /** locked by operations */
  locked: z.boolean().optional(),
  /** why the kiosk serves no citizens (locked, store lost…), PII-free; absent while in service */
  outOfService: z.string().max(200).optional(),
  /** the kiosk's X25519 public key (32 bytes, base64) that the registry seals manifest secrets to */
  sealingKey: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, 'expected 32 bytes in base64')
    .optional(),
});
export type StatusBody = z.infer<typeof StatusBodySchema>;

/** A part's health as the lifecycle reports it. */
export const PartHealthSchema = z.strictObject({
  state: z.enum(['up', 'degraded', 'down', 'starting', 'stopped']),
  detail: z.string().max(300).optional(),
});

/**
 * `kiosk.telemetry` on `kiosk/{id}/telemetry` (QoS 0, not retained): the kiosk's picture for the
 * operations dashboard, every `mqtt.telemetryIntervalMs` and soon after a change. PII-free: counts,
 * states, versions and fault codes only.
 */
export const TelemetryBodySchema = z.strictObject({
  /** why this one was sent: the interval, a change, or a (re)connect */
  trigger: z.enum(['interval', 'change', 'connect']),
  uptimeSeconds: z.number().int().min(0),
  /** health per part (store, link, devices and each device, fleet, sessions, ui…) */
  parts: z.record(z.string().max(64), PartHealthSchema),
  /** the durable outbox: events not yet acknowledged by the broker, and the age of the oldest */
  queue: z.strictObject({
    depth: z.number().int().min(0),
    oldestAgeSeconds: z.number().int().min(0).nullable(),
  }),
  /** cards in the vault by state (in-slot, at-station, in-tray, dispensed, captured, withdrawn) */
  inventory: z.record(z.string().max(32), z.number().int().min(0)),
  versions: z.strictObject({
    software: z.string().max(64),
    config: z.strictObject({ fleet: z.number().int().min(0), kiosk: z.number().int().min(0) }),
  }),
  service: z.strictObject({
    inService: z.boolean(),
    locked: z.boolean(),
    /** why not in service (locked by operations, store lost, store full…) */
    reasons: z.array(z.string().max(200)).max(10),
  }),
  /** the most recent fault codes, newest last (e.g. `device.printer.missing`, `store.full`) */
  faults: z
    .array(z.strictObject({ code: z.string().max(100), at: z.iso.datetime({ offset: true }) }))
    .max(20),
});
export type TelemetryBody = z.infer<typeof TelemetryBodySchema>;

/**
 * `fault.storage`: the store found a corrupt file (moved aside), or was replaced. A full store is
 * not reported here: this event travels through the outbox, which lives in that store. It shows
 * instead in the retained status (out of service: store full) and telemetry's `store.full` fault.
 */
export const StorageFaultBodySchema = z.strictObject({
  /**
   * `store-replaced`: the database is empty or not the one the kiosk's security state (kept beside
   * its keys) names: the kiosk stays out of service until operations re-establish its state.
   */
  fault: z.enum(['corrupt-database', 'store-replaced']),
  detail: z.string().max(500).optional(),
});

/** `pickup.completed`: a card left the vault for its citizen (pseudonymous ids only, no PII). */
export const PickupCompletedBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  slot: z.number().int().min(0).max(10_000),
});

/** `manifest.entry`: the registry stages or withdraws a pickup at this kiosk (carries an id; QoS 1). */
export const ManifestEntryBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  action: z.enum(['stage', 'withdraw']),
  /** registry secrets for this pickup, sealed to the kiosk's X25519 key (base64) */
  sealed: z.string().max(65_536).optional(),
});

const PICKUP_ID = z.string().min(1).max(64);
/** Most pickups one resync lists (a kiosk's vault holds a few hundred cards; 256 KiB payloads). */
export const MAX_RESYNC_PICKUPS = 2000;
/** Most pickup ids a resync report names per difference (the counts stay exact). */
export const MAX_RESYNC_REPORTED_IDS = 200;

/**
 * `manifest.resyncRequested` (kiosk → registry, an outbox event): the kiosk asks for its whole
 * manifest. `proof` is HPKE auth mode from the kiosk's enrolled X25519 key to the registry's,
 * bound to the kiosk and `requestId` (src/store/hpke.ts `resyncInfo`): the registry acts only on
 * a request it can open with the key it holds for the kiosk of the topic.
 */
export const ManifestResyncRequestedBodySchema = z.strictObject({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  proof: z.string().min(1).max(4096),
});

/** What a resync proof holds once opened (the registry checks it names the kiosk of the topic). */
export const ManifestResyncProofSchema = z.strictObject({
  kioskId: z.string().min(3).max(63),
  requestId: z.string().min(16).max(64),
  requestedAt: z.iso.datetime({ offset: true }),
});

/**
 * `manifest.resync` (registry → kiosk on `kiosk/{id}/manifest`, signed, bound like an entry): sent
 * after the stage entries of a resync, it lists every pickup the registry has staged at the kiosk.
 * The kiosk reconciles its vault against it (src/kiosk/manifest-resync.ts).
 */
export const ManifestResyncBodySchema = z.strictObject({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  pickupIds: z.array(PICKUP_ID).max(MAX_RESYNC_PICKUPS),
});

const ResyncDifferenceSchema = z.strictObject({
  count: z.number().int().min(0),
  /** the first MAX_RESYNC_REPORTED_IDS pickup ids (pseudonymous, no PII) */
  pickupIds: z.array(PICKUP_ID).max(MAX_RESYNC_REPORTED_IDS),
});

/**
 * `manifest.resynced` (kiosk → registry and operations, an outbox event): what a resync changed or
 * found. Counts and pickup ids only.
 */
export const ManifestResyncedBodySchema = z.strictObject({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  /** pickups the kiosk holds as the registry does */
  inSync: z.number().int().min(0),
  /** staged at the registry, missing here: staged by the resync's entries (the normal stage path) */
  staged: ResyncDifferenceSchema,
  /** staged here, no longer at the registry: withdrawn */
  withdrawn: ResyncDifferenceSchema,
  /** staged at the registry but still not staged here (its entry was refused or did not open) */
  notStaged: ResyncDifferenceSchema,
  /** cards in the vault whose pickup the registry does not stage here: never dispensed, staff remove them */
  unknownCards: ResyncDifferenceSchema,
});

/** `command.request`: an operations command (signature checked by the fleet layer). */
export const CommandBodySchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/),
  args: z.record(z.string(), z.union([z.string().max(1024), z.number(), z.boolean()])).optional(),
  nonce: z.string().min(8).max(64),
});

/** Why the kiosk refused an inbound message (safe to log, no payload content). */
export const RefusalReasonSchema = z.enum([
  'unsigned',
  'unknown-key',
  'bad-signature',
  'expired',
  'other-kiosk',
  'not-newer',
  'replayed',
  'invalid',
  'unknown-command',
  /** not JSON, too large, too deep, lone surrogates, or not the schema of its topic */
  'malformed',
  /** the kiosk's store was lost: it waits for operations to re-establish its security state */
  'state-lost',
]);
export type RefusalReason = z.infer<typeof RefusalReasonSchema>;

/**
 * `config.push`: signed configuration from operations on `fleet/config` or `kiosk/{id}/config`
 * (retained). `settings` is a partial kiosk configuration merged onto the file's and validated by
 * the one config schema; versions only move forward; the envelope's `expiresAt` is required.
 */
export const ConfigPushBodySchema = z.strictObject({
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** the one kiosk this is for (on `kiosk/{id}/config`); absent on `fleet/config` */
  kioskId: z.string().min(3).max(63).optional(),
  settings: z.record(z.string(), z.unknown()),
});

/** `config.result`: what a kiosk did with a pushed configuration (an outbox event on `events`). */
export const ConfigResultBodySchema = z.strictObject({
  version: z.number().int().min(0),
  /** id of the `config.push` envelope this answers */
  configId: z.string().min(1).max(64),
  /**
   * applied: in effect (live settings taken by the parts that use them, or the kiosk restarted
   * with them), and on probation; pending-restart: recorded, live settings in effect, the rest
   * (`restartRequired`) once the kiosk restarts at idle — `applied` follows after the restart;
   * kept: passed probation, it is the last good config now; rolled-back: probation failed, the last
   * good config runs again; refused: never applied.
   */
  status: z.enum(['applied', 'pending-restart', 'refused', 'rolled-back', 'kept']),
  reason: RefusalReasonSchema.or(z.literal('unhealthy')).optional(),
  /** short, PII-free detail (e.g. the first validation issue) */
  detail: z.string().max(500).optional(),
  /** settings that changed but take effect only after a restart (schema meta `restart: true`) */
  restartRequired: z.array(z.string().max(200)).max(100).optional(),
});

/** `command.result`: the answer to a command on `kiosk/{id}/cmd/result`, echoing its correlationId. */
export const CommandResultBodySchema = z.strictObject({
  name: z.string().max(64),
  status: z.enum(['ok', 'refused', 'failed']),
  reason: RefusalReasonSchema.optional(),
  detail: z.string().max(500).optional(),
  /** command output, e.g. the diagnostics bundle (bounded, PII-free) */
  data: z.record(z.string(), z.unknown()).optional(),
});

/**
 * `security.refused`: one summary per window of the inbound messages the kiosk refused, counted by
 * reason (refusals are not stored one by one: forged messages must not fill the disk).
 */
export const SecurityRefusedBodySchema = z.strictObject({
  from: z.iso.datetime({ offset: true }),
  until: z.iso.datetime({ offset: true }),
  counts: z.record(RefusalReasonSchema, z.number().int().min(1)),
});

/** `registry.ping` request and its `registry.pong` answer: proves the request/response path. */
export const PingBodySchema = z.strictObject({ note: z.string().max(200).optional() });
export const PongBodySchema = z.strictObject({ at: z.iso.datetime({ offset: true }) });

/**
 * `enrol.request`, on the bootstrap topic: a kiosk being provisioned asks the registry for its
 * client certificate with a one-time token, and hands over its X25519 sealing public key.
 */
export const EnrolRequestBodySchema = z.strictObject({
  kioskId: z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/),
  token: z.string().min(16).max(128),
  /** PKCS#10 certificate signing request (PEM) whose subject CN is the kiosk id */
  csr: z.string().min(100).max(16_384),
  /** raw 32-byte X25519 public key, base64 */
  sealingPublicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'expected 32 bytes in base64'),
});

/** Why an enrolment was refused; each tells the technician what to do. */
export const ENROL_REFUSALS = [
  'token-unknown',
  'token-used',
  'token-other-kiosk',
  'bad-request',
  // a reserved or malformed kiosk id (src/registry/kiosk-id.ts)
  'kiosk-id-refused',
  // the kiosk is enrolled: only operations' re-enrolment token replaces its certificate and keys
  're-enrolment-required',
] as const;

/** `enrol.response`: the signed client certificate and the CA to trust, or the refusal. */
export const EnrolResponseBodySchema = z.discriminatedUnion('status', [
  z.strictObject({
    status: z.literal('ok'),
    certificate: z.string().min(100).max(16_384),
    ca: z.string().min(100).max(65_536),
  }),
  z.strictObject({
    status: z.literal('refused'),
    reason: z.enum(ENROL_REFUSALS),
    detail: z.string().max(500).optional(),
  }),
]);
export type EnrolResponseBody = z.infer<typeof EnrolResponseBodySchema>;

/** `pickup.retracted`: the card was not taken in time and went to the capture bin (no PII). */
export const PickupRetractedBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  slot: z.number().int().min(0).max(10_000),
  /** removed-by-staff: staff took a card the mechanics left between stops into the capture bin (`kiosk vault clear`) */
  reason: z.enum(['not-taken', 'device-fault', 'recovered-after-restart', 'removed-by-staff']),
});

/** `fault.pickup`: a pickup stopped for a reason staff must look at (pseudonymous ids only). */
export const PickupFaultBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  fault: z.enum(['chip-mismatch', 'passive-auth-failed', 'active-auth-failed', 'chip-unreadable', 'device']),
  device: z.string().max(32).optional(),
  /** where the card is now */
  card: z.enum(['in-slot', 'capture-bin', 'unknown']),
});

/** `pickup.locked`: too many failed fingers for a pickup (over all its sessions); staff must release it. */
export const PickupLockedBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  failures: z.number().int().min(1).max(1000),
});

/** `pickup.released`: staff released a locked pickup (`kiosk pickup release`); its count starts afresh. */
export const PickupReleasedBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
});

/**
 * `fault.inventory`: after a board (re)connect or a restart, the card sensors and the inventory
 * could not be reconciled; the kiosk is out of service until staff clear it (no guess is made).
 */
export const InventoryFaultBodySchema = z.strictObject({
  reason: z.enum(['card-between-stops', 'unrecorded-card', 'sensors-disagree', 'several-cards-out']),
  pickupId: z.string().min(1).max(64).optional(),
  slot: z.number().int().min(0).max(10_000).optional(),
  sensors: z.strictObject({ tray: z.boolean(), station: z.boolean(), atStop: z.boolean() }),
});

/** `fault.tamper`: the tamper switch tripped; the kiosk went out of service at once. */
export const TamperFaultBodySchema = z.strictObject({
  /** the session that was ended, if a card was out (pseudonymous) */
  pickupId: z.string().min(1).max(64).optional(),
});

/** `vault.loaded`: a technician loaded a card into a slot (`kiosk vault load`). */
export const VaultLoadedBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  slot: z.number().int().min(0).max(10_000),
});

const ResidenceSchema = z.strictObject({
  provinceCode: z.string().max(8),
  wardCode: z.string().max(8),
  detail: z.string().max(200),
});

/** The citizen's own contact data, as the registry holds it and the update flow edits it. */
export const ContactRecordSchema = z.strictObject({
  phone: z.string().max(20).optional(),
  email: z.string().max(254).optional(),
  residence: ResidenceSchema.optional(),
});

/** Post-2025 provinces and wards (after the 2025 merger) as the registry supplies them. */
export const GazetteerSchema = z
  .array(
    z.strictObject({
      code: z.string().max(8),
      name: z.string().max(100),
      wards: z.array(z.strictObject({ code: z.string().max(8), name: z.string().max(100) })).max(500),
    }),
  )
  .max(100);

/** `registry.fingerVerify` request: the live finger's template, 1:1 against the citizen's record. */
export const FingerVerifyBodySchema = z.strictObject({
  idNumber: z.string().regex(/^\d{12}$/),
  template: z.string().max(4096),
});

/** `registry.fingerVerified` answer: the match, and when matched the record and the gazetteer. */
export const FingerVerifiedBodySchema = z.strictObject({
  matched: z.boolean(),
  record: ContactRecordSchema.optional(),
  gazetteer: GazetteerSchema.optional(),
});

/**
 * What a kiosk seals to the registry for one data update (the plaintext of `update.submitted`'s
 * `sealed`): the citizen's ID number and the changes.
 */
export const UpdateSubmissionSchema = z.strictObject({
  idNumber: z.string().regex(/^\d{12}$/),
  changes: ContactRecordSchema,
});

/**
 * `update.submitted`: a citizen's data update, sent from the outbox (tracking code names it). The
 * citizen's data is HPKE-sealed (auth mode, the kiosk's key) to the registry's pinned key, bound to
 * the kiosk and the tracking code (src/store/hpke.ts): the outbox holds only ciphertext.
 */
export const UpdateSubmittedBodySchema = z.strictObject({
  trackingCode: z.string().min(4).max(32),
  sealed: z.string().min(1).max(16_384),
});

/** `update.status`: the registry's decision on an update (inbound, on the kiosk's `updates` topic). */
export const UpdateStatusBodySchema = z.strictObject({
  trackingCode: z.string().min(4).max(32),
  state: z.enum(['received', 'approved', 'rejected', 'pending']),
  note: z.string().max(200).optional(),
});

/**
 * `software.result`: what a kiosk did with an `update-software` order from operations (a signed
 * `command.request`; issue 14), an outbox event on `events`. `orderId` is the order envelope's id.
 * accepted → downloading (percent) → staged (verified, waiting for idle) → switching (restarting
 * at idle) → applied (running it, on release probation) → kept (marked good); or refused (never
 * installed, with the updater's reason), or failed (staging failed after acceptance).
 */
export const SoftwareResultBodySchema = z.strictObject({
  orderId: z.string().min(1).max(64),
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  status: z.enum(['accepted', 'downloading', 'staged', 'switching', 'applied', 'kept', 'refused', 'failed']),
  /** download progress, 0–100, with `downloading` */
  percent: z.number().int().min(0).max(100).optional(),
  /** the updater's refusal reason (src/update/errors.ts), with `refused` and `failed` */
  reason: z.string().max(64).optional(),
  /** short, PII-free detail */
  detail: z.string().max(500).optional(),
});

/**
 * `software.rolledBack`: the release guard (deploy/release-guard.sh) switched `current` back (a
 * crash loop, a failed start, or the runtime's rollback request). Reported from
 * update/rollbacks.jsonl once the link is up; `orderId` when the release came from an order.
 */
export const SoftwareRolledBackBodySchema = z.strictObject({
  from: z.string().max(64),
  to: z.string().max(64),
  reason: z.string().max(64),
  at: z.string().max(64),
  orderId: z.string().min(1).max(64).optional(),
});

/**
 * `inbound.setAside`: an admitted inbound message (signed, bound, schema-checked) whose handler
 * failed on every try was set aside, so that the messages behind it are not held up. Nothing of it
 * was applied; it is kept in the kiosk's store (`inbox_set_aside`) and acknowledged. Failures for
 * want of storage are never set aside: those are retried for as long as it takes.
 */
export const InboundSetAsideBodySchema = z.strictObject({
  messageId: z.string().min(8).max(64),
  messageType: z.string().max(64),
  /** the error's name (e.g. `TypeError`), never its text */
  failure: z.string().max(64),
  attempts: z.number().int().min(1).max(1000),
});

/** The registry of message types: type name → body schema. */
export const messageBodies = {
  'kiosk.status': StatusBodySchema,
  'kiosk.telemetry': TelemetryBodySchema,
  'fault.storage': StorageFaultBodySchema,
  'pickup.completed': PickupCompletedBodySchema,
  'manifest.entry': ManifestEntryBodySchema,
  'command.request': CommandBodySchema,
  'command.result': CommandResultBodySchema,
  'config.push': ConfigPushBodySchema,
  'config.result': ConfigResultBodySchema,
  'registry.ping': PingBodySchema,
  'registry.pong': PongBodySchema,
  'enrol.request': EnrolRequestBodySchema,
  'enrol.response': EnrolResponseBodySchema,
  'pickup.retracted': PickupRetractedBodySchema,
  'fault.pickup': PickupFaultBodySchema,
  'pickup.locked': PickupLockedBodySchema,
  'pickup.released': PickupReleasedBodySchema,
  'fault.inventory': InventoryFaultBodySchema,
  'fault.tamper': TamperFaultBodySchema,
  'vault.loaded': VaultLoadedBodySchema,
  'registry.fingerVerify': FingerVerifyBodySchema,
  'registry.fingerVerified': FingerVerifiedBodySchema,
  'update.submitted': UpdateSubmittedBodySchema,
  'update.status': UpdateStatusBodySchema,
  'security.refused': SecurityRefusedBodySchema,
  'manifest.resyncRequested': ManifestResyncRequestedBodySchema,
  'manifest.resync': ManifestResyncBodySchema,
  'manifest.resynced': ManifestResyncedBodySchema,
  'software.result': SoftwareResultBodySchema,
  'software.rolledBack': SoftwareRolledBackBodySchema,
  'inbound.setAside': InboundSetAsideBodySchema,
} as const;

/** Message types a kiosk publishes on its `events` topic (from the outbox). */
export const EVENT_TYPES = [
  'fault.storage',
  'pickup.completed',
  'config.result',
  'pickup.retracted',
  'fault.pickup',
  'pickup.locked',
  'pickup.released',
  'fault.inventory',
  'fault.tamper',
  'vault.loaded',
  'update.submitted',
  'security.refused',
  'manifest.resyncRequested',
  'manifest.resynced',
  'software.result',
  'software.rolledBack',
  'inbound.setAside',
] as const satisfies readonly MessageType[];
export type EventType = (typeof EVENT_TYPES)[number];
/** Events whose body carries personal data: deleting them from the outbox is a purge (store.ts). */
export const PERSONAL_EVENT_TYPES = ['update.submitted'] as const satisfies readonly EventType[];
export type MessageType = keyof typeof messageBodies;
export type MessageBody<T extends MessageType> = z.infer<(typeof messageBodies)[T]>;

export function envelope<T extends MessageType>(
  type: T,
  from: string,
  body: MessageBody<T>,
  extra: Partial<
    Pick<Envelope, 'correlationId' | 'replyTo' | 'expiresAt' | 'id' | 'ts' | 'to' | 'nonce'>
  > = {},
): Envelope<MessageBody<T>> {
  return {
    id: extra.id ?? randomUUID(),
    type,
    ts: extra.ts ?? new Date().toISOString(),
    from,
    body,
    ...extra,
  };
}

/** An inbound payload that cannot be used; `reason` is safe to log (no payload content). */
export class InvalidMessage extends Error {
  override readonly name = 'InvalidMessage';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Parses and validates one payload as the expected message type; throws InvalidMessage. */
export function decodeMessage<T extends MessageType>(
  payload: Buffer | string,
  expected: T,
): Envelope<MessageBody<T>> {
  return decodeOneOf(payload, [expected]);
}

/** Like `decodeMessage`, for a topic that carries several message types. */
export function decodeOneOf<T extends MessageType>(
  payload: Buffer | string,
  expectedTypes: readonly T[],
): Envelope<MessageBody<T>> & { type: T } {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD_BYTES)
    throw new InvalidMessage(`payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  const text = payload.toString();
  const depth = nestingDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new InvalidMessage(`JSON nested deeper than ${MAX_JSON_DEPTH}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidMessage('payload is not JSON');
  }
  if (!wellFormed(json)) throw new InvalidMessage('a string holds a lone UTF-16 surrogate');
  const outer = EnvelopeSchema.safeParse(json);
  if (!outer.success) throw new InvalidMessage(`envelope: ${summarise(outer.error)}`);
  const type = outer.data.type as T;
  if (!expectedTypes.includes(type)) {
    throw new InvalidMessage(
      `expected a ${expectedTypes.join(' or ')} message, got ${JSON.stringify(outer.data.type.slice(0, 64))}`,
    );
  }
  const body = messageBodies[type].safeParse(outer.data.body);
  if (!body.success) throw new InvalidMessage(`${type} body: ${summarise(body.error)}`);
  return { ...outer.data, type, body: body.data as MessageBody<T> };
}

function summarise(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/**
 * Deepest nesting of `[`/`{` in JSON text, ignoring brackets inside strings. Linear, no recursion:
 * runs before `JSON.parse` so a 100,000-deep payload is refused without building it.
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (code === 0x5d || code === 0x7d) depth--;
  }
  return deepest;
}

/** In `u` mode a surrogate pair is one code point, so only a lone surrogate matches. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * True when every key and string is well-formed UTF-16 (no lone surrogate, which RFC 8785 cannot
 * canonicalise). Bounded by MAX_JSON_DEPTH, checked before.
 */
function wellFormed(value: unknown): boolean {
  if (typeof value === 'string') return !LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.every(wellFormed);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).every(([key, inner]) => !LONE_SURROGATE.test(key) && wellFormed(inner));
  return true;
}

/**
 * Every MQTT payload of the API, as zod schemas (DESIGN.md "MQTT API"). The application protocol
 * lives in one JSON envelope so it runs the same over MQTT 3.1.1 and 5 and over any broker;
 * `docs/mqtt-api.yaml` is checked against these schemas.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Upper bound of any payload we accept; larger ones are rejected before JSON parsing. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

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
  /** position of an outbox event in its kiosk's outbox: lets the registry check order and gaps */
  seq: z.number().int().positive().optional(),
});
export type Envelope<Body = unknown> = Omit<z.infer<typeof EnvelopeSchema>, 'body'> & { body: Body };

export const DeviceHealthSchema = z.enum(['ok', 'degraded', 'missing', 'disabled']);

export const StatusBodySchema = z.strictObject({
  online: z.boolean(),
  version: z.string().optional(),
  startedAt: z.iso.datetime({ offset: true }).optional(),
  devices: z.record(z.string(), DeviceHealthSchema).optional(),
  queueDepth: z.number().int().min(0).optional(),
  /** the kiosk's X25519 public key (32 bytes, base64) that the registry seals manifest secrets to */
  sealingKey: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, 'expected 32 bytes in base64')
    .optional(),
});
export type StatusBody = z.infer<typeof StatusBodySchema>;

/** `fault.storage`: the store found a corrupt file (moved aside) or ran out of space. */
export const StorageFaultBodySchema = z.strictObject({
  fault: z.enum(['corrupt-database', 'disk-full']),
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

/** `command.request`: an operations command (signature checked by the fleet layer). */
export const CommandBodySchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/),
  args: z.record(z.string(), z.union([z.string().max(1024), z.number(), z.boolean()])).optional(),
  nonce: z.string().min(8).max(64),
});

/** `registry.ping` request and its `registry.pong` answer: proves the request/response path. */
export const PingBodySchema = z.strictObject({ note: z.string().max(200).optional() });
export const PongBodySchema = z.strictObject({ at: z.iso.datetime({ offset: true }) });

/** `pickup.retracted`: the card was not taken in time and went to the capture bin (no PII). */
export const PickupRetractedBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  slot: z.number().int().min(0).max(10_000),
  reason: z.enum(['not-taken', 'device-fault', 'recovered-after-restart']),
});

/** `fault.pickup`: a pickup stopped for a reason staff must look at (pseudonymous ids only). */
export const PickupFaultBodySchema = z.strictObject({
  pickupId: z.string().min(1).max(64),
  fault: z.enum(['chip-mismatch', 'passive-auth-failed', 'active-auth-failed', 'chip-unreadable', 'device']),
  device: z.string().max(32).optional(),
  /** where the card is now */
  card: z.enum(['in-slot', 'capture-bin', 'unknown']),
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

/** `update.submitted`: a citizen's data update, sent from the outbox (tracking code names it). */
export const UpdateSubmittedBodySchema = z.strictObject({
  trackingCode: z.string().min(4).max(32),
  idNumber: z.string().regex(/^\d{12}$/),
  changes: ContactRecordSchema,
});

/** `update.status`: the registry's decision on an update (inbound, on the kiosk's `updates` topic). */
export const UpdateStatusBodySchema = z.strictObject({
  trackingCode: z.string().min(4).max(32),
  state: z.enum(['received', 'approved', 'rejected', 'pending']),
  note: z.string().max(200).optional(),
});

/** The registry of message types: type name → body schema. */
export const messageBodies = {
  'kiosk.status': StatusBodySchema,
  'fault.storage': StorageFaultBodySchema,
  'pickup.completed': PickupCompletedBodySchema,
  'manifest.entry': ManifestEntryBodySchema,
  'command.request': CommandBodySchema,
  'registry.ping': PingBodySchema,
  'registry.pong': PongBodySchema,
  'pickup.retracted': PickupRetractedBodySchema,
  'fault.pickup': PickupFaultBodySchema,
  'vault.loaded': VaultLoadedBodySchema,
  'registry.fingerVerify': FingerVerifyBodySchema,
  'registry.fingerVerified': FingerVerifiedBodySchema,
  'update.submitted': UpdateSubmittedBodySchema,
  'update.status': UpdateStatusBodySchema,
} as const;

/** Message types a kiosk publishes on its `events` topic (from the outbox). */
export const EVENT_TYPES = [
  'fault.storage',
  'pickup.completed',
  'pickup.retracted',
  'fault.pickup',
  'vault.loaded',
  'update.submitted',
] as const satisfies readonly MessageType[];
export type EventType = (typeof EVENT_TYPES)[number];
export type MessageType = keyof typeof messageBodies;
export type MessageBody<T extends MessageType> = z.infer<(typeof messageBodies)[T]>;

export function envelope<T extends MessageType>(
  type: T,
  from: string,
  body: MessageBody<T>,
  extra: Partial<Pick<Envelope, 'correlationId' | 'replyTo' | 'expiresAt' | 'id' | 'ts'>> = {},
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
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    throw new InvalidMessage('payload is not JSON');
  }
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

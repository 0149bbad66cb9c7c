/**
 * The AsyncAPI 3.0 document of the MQTT API (DESIGN.md "MQTT API"), generated from the zod schemas
 * of `messages.ts` and the topic table below, so `docs/mqtt-api.yaml` cannot drift from the code:
 * `npm run docs:mqtt-api` writes it, and a test fails when the committed file differs.
 * AsyncAPI 3.0.0 §"Channel Object", §"Operation Object"; MQTT bindings 0.2.0 (qos, retain).
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import { EnvelopeSchema, EVENT_TYPES, messageBodies, type MessageType } from './messages.js';
import { TOPIC_ROOT } from './topics.js';

interface ChannelSpec {
  /** address relative to TOPIC_ROOT, with {kioskId} / {op} parameters */
  address: string;
  description: string;
  /** from the kiosk's point of view */
  action: 'send' | 'receive';
  qos: 0 | 1;
  retain: boolean;
  messages: readonly MessageType[];
}

/** Every topic of the API with the message types it carries; the one table the document is made from. */
export const CHANNELS = {
  status: {
    address: 'kiosk/{kioskId}/status',
    description:
      'Presence: retained status, republished on every connect; the last will says {"online":false}.',
    action: 'send',
    qos: 1,
    retain: true,
    messages: ['kiosk.status'],
  },
  telemetry: {
    address: 'kiosk/{kioskId}/telemetry',
    description:
      'Telemetry for the operations dashboard every mqtt.telemetryIntervalMs and soon after a change: health per part, queue, inventory, versions, service state, recent faults, uptime.',
    action: 'send',
    qos: 0,
    retain: false,
    messages: ['kiosk.telemetry'],
  },
  events: {
    address: 'kiosk/{kioskId}/events',
    description: 'Events from the durable outbox, in order, each with a unique id and its outbox `seq`.',
    action: 'send',
    qos: 1,
    retain: false,
    messages: EVENT_TYPES,
  },
  manifest: {
    address: 'kiosk/{kioskId}/manifest',
    description:
      'Pickup entries staged or withdrawn by the registry; deduplicated by id in the inbox. A resync ' +
      '(after the kiosk asked with manifest.resyncRequested) is every staged entry again, then ' +
      'manifest.resync listing them all.',
    action: 'receive',
    qos: 1,
    retain: false,
    messages: ['manifest.entry', 'manifest.resync'],
  },
  kioskConfig: {
    address: 'kiosk/{kioskId}/config',
    description:
      'Signed configuration for one kiosk (Ed25519 over JCS, `keyId` + `sig`); versions only move forward.',
    action: 'receive',
    qos: 1,
    retain: true,
    messages: ['config.push'],
  },
  fleetConfig: {
    address: 'fleet/config',
    description: 'Signed configuration for every kiosk; a kiosk layers its own config over it.',
    action: 'receive',
    qos: 1,
    retain: true,
    messages: ['config.push'],
  },
  cmd: {
    address: 'kiosk/{kioskId}/cmd',
    description: 'Signed commands with nonce and expiresAt; nonces are remembered until they expire.',
    action: 'receive',
    qos: 1,
    retain: false,
    messages: ['command.request'],
  },
  cmdResult: {
    address: 'kiosk/{kioskId}/cmd/result',
    description: "The answer to each command, echoing the caller's correlationId.",
    action: 'send',
    qos: 1,
    retain: false,
    messages: ['command.result'],
  },
  registryRequest: {
    address: 'registry/req/{op}',
    description: "Requests to the registry with correlationId and replyTo = the kiosk's `res` topic.",
    action: 'send',
    qos: 1,
    retain: false,
    messages: ['registry.ping', 'registry.fingerVerify'],
  },
  responses: {
    address: 'kiosk/{kioskId}/res',
    description: "Answers of the registry, echoing the request's correlationId.",
    action: 'receive',
    qos: 1,
    retain: false,
    messages: ['registry.pong', 'registry.fingerVerified'],
  },
  updates: {
    address: 'kiosk/{kioskId}/updates',
    description:
      "The registry's later answers to a citizen's data update (update.status), stored by the kiosk.",
    action: 'receive',
    qos: 1,
    retain: false,
    messages: ['update.status'],
  },
  bootstrapEnrol: {
    address: 'bootstrap/enrol',
    description:
      'Enrolment of a kiosk being provisioned (broker enrolment listener, no client certificate yet): ' +
      'one-time token, CSR with CN = kiosk id, X25519 sealing public key; replyTo = its bootstrap reply topic.',
    action: 'send',
    qos: 1,
    retain: false,
    messages: ['enrol.request'],
  },
  bootstrapReply: {
    address: 'bootstrap/reply/{clientId}',
    description:
      "The registry's answer to one enrolment: the signed client certificate and CA, or the refusal; " +
      'only the requesting client id may read it (broker ACL %c).',
    action: 'receive',
    qos: 1,
    retain: false,
    messages: ['enrol.response'],
  },
} as const satisfies Record<string, ChannelSpec>;

function messageName(type: string): string {
  return type.replace(/\.([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function envelopeSchemaOf(type: MessageType): unknown {
  const schema = EnvelopeSchema.extend({ type: z.literal(type), body: messageBodies[type] });
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return json;
}

export function buildAsyncApiDocument(version: string): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CHANNELS) as [string, ChannelSpec][]) {
    const parameters: Record<string, unknown> = {};
    if (spec.address.includes('{kioskId}'))
      parameters.kioskId = { description: 'kiosk id: 3–63 lowercase letters, digits or dashes' };
    if (spec.address.includes('{op}')) parameters.op = { description: 'registry operation, e.g. ping' };
    if (spec.address.includes('{clientId}'))
      parameters.clientId = { description: 'MQTT client id of the enrolling connection' };
    channels[name] = {
      address: `${TOPIC_ROOT}/${spec.address}`,
      description: spec.description,
      ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
      messages: Object.fromEntries(
        spec.messages.map((type) => [
          messageName(type),
          { $ref: `#/components/messages/${messageName(type)}` },
        ]),
      ),
    };
    operations[`${spec.action}${name[0]?.toUpperCase()}${name.slice(1)}`] = {
      action: spec.action,
      channel: { $ref: `#/channels/${name}` },
      bindings: { mqtt: { qos: spec.qos, retain: spec.retain, bindingVersion: '0.2.0' } },
      messages: spec.messages.map((type) => ({ $ref: `#/channels/${name}/messages/${messageName(type)}` })),
    };
  }
  for (const type of Object.keys(messageBodies).sort() as MessageType[]) {
    const description = z.globalRegistry.get(messageBodies[type])?.description;
    messages[messageName(type)] = {
      name: type,
      contentType: 'application/json',
      ...(description ? { description } : {}),
      payload: envelopeSchemaOf(type),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'cccd-kiosk MQTT API',
      version,
      description:
        'Topics and payloads between kiosks, the registry and operations. Every payload is one JSON ' +
        'envelope {id, type, ts, from, correlationId?, replyTo?, expiresAt?, body, sig?, keyId?, seq?}; ' +
        'the same over MQTT 3.1.1 and 5. Generated from src/link/messages.ts by `npm run docs:mqtt-api`.',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
}

export function asyncApiYaml(version: string): string {
  return `# Generated by \`npm run docs:mqtt-api\` from src/link/messages.ts and src/link/asyncapi.ts: do not edit.\n${stringify(buildAsyncApiDocument(version), { lineWidth: 0 })}`;
}

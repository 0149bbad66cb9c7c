/** The one place that knows MQTT topic names (DESIGN.md "MQTT API"). Everything lives under `cccd/v1/`. */
export const TOPIC_ROOT = 'cccd/v1';

const KIOSK_ID = /^[a-z0-9][a-z0-9-]{2,62}$/;

function kioskTopic(kioskId: string, leaf: string): string {
  if (!KIOSK_ID.test(kioskId))
    throw new Error(`not a kiosk id usable in a topic: ${JSON.stringify(kioskId)}`);
  return `${TOPIC_ROOT}/kiosk/${kioskId}/${leaf}`;
}

export const topics = {
  status: (kioskId: string) => kioskTopic(kioskId, 'status'),
  telemetry: (kioskId: string) => kioskTopic(kioskId, 'telemetry'),
  events: (kioskId: string) => kioskTopic(kioskId, 'events'),
  manifest: (kioskId: string) => kioskTopic(kioskId, 'manifest'),
  config: (kioskId: string) => kioskTopic(kioskId, 'config'),
  cmd: (kioskId: string) => kioskTopic(kioskId, 'cmd'),
  cmdResult: (kioskId: string) => kioskTopic(kioskId, 'cmd/result'),
  responses: (kioskId: string) => kioskTopic(kioskId, 'res'),
  /** the registry's `update.status` messages for this kiosk */
  updates: (kioskId: string) => kioskTopic(kioskId, 'updates'),
  fleetConfig: () => `${TOPIC_ROOT}/fleet/config`,
  registryRequest: (op: string) => `${TOPIC_ROOT}/registry/req/${op}`,
  /** wildcard subscriptions used by the registry and operations */
  allStatuses: () => `${TOPIC_ROOT}/kiosk/+/status`,
  allEvents: () => `${TOPIC_ROOT}/kiosk/+/events`,
  allRegistryRequests: () => `${TOPIC_ROOT}/registry/req/+`,
  /** enrolment of a kiosk not yet provisioned (the broker's bootstrap listener allows only these) */
  bootstrapEnrol: () => `${TOPIC_ROOT}/bootstrap/enrol`,
  /** where the registry answers one enrolment request; named by the requester's MQTT client id */
  bootstrapReply: (clientId: string) => {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(clientId))
      throw new Error(`not a client id usable in a topic: ${JSON.stringify(clientId)}`);
    return `${TOPIC_ROOT}/bootstrap/reply/${clientId}`;
  },
} as const;

/** `cccd/v1/kiosk/hn-0001/status` → `{ kioskId: 'hn-0001', leaf: 'status' }`; undefined for other topics. */
export function parseKioskTopic(topic: string): { kioskId: string; leaf: string } | undefined {
  const prefix = `${TOPIC_ROOT}/kiosk/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const kioskId = rest.slice(0, slash);
  if (!KIOSK_ID.test(kioskId)) return undefined;
  return { kioskId, leaf: rest.slice(slash + 1) };
}

const SHARE_GROUP = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The subscription filters of a consumer in `group`: `$share/<group>/<filter>` (MQTT 5 §4.8.2),
 * or the filters themselves without a group. Every message of a shared filter goes to one member
 * of the group. A broker sends no retained messages to a shared subscription, so a consumer that
 * must read the retained statuses at start (a dashboard) subscribes without a group.
 */
export function sharedTopics(filters: readonly string[], group: string | undefined): string[] {
  if (group === undefined) return [...filters];
  // the group name is one topic level without wildcards (§4.8.2): refuse anything else outright
  if (!SHARE_GROUP.test(group)) throw new Error(`not a share group name: ${JSON.stringify(group)}`);
  return filters.map((filter) => `$share/${group}/${filter}`);
}

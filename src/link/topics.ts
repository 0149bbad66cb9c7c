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

import mqtt, { type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A plain MQTT client that records what arrives on `filter`, for tests to wait on. */
export async function watchTopic(url: string, filter: string) {
  return watchOn(await mqtt.connectAsync(url, { reconnectPeriod: 200, clean: true }), filter);
}

/**
 * Records what arrives on `filter` over an existing connection: under the deploy ACL a service
 * identity has one connection (its certificate CN is its client id), which both reads and writes.
 */
export async function watchOn(client: MqttClient, filter: string) {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    if (!matches(filter, topic)) return;
    received.push({ topic, payload: payload.toString(), retain: packet.retain });
    for (const waiter of waiters) waiter();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    received,
    client,
    waitFor(predicate: (message: Received) => boolean, timeoutMs = 10_000, from = 0): Promise<Received> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no matching message on ${filter} within ${timeoutMs} ms (got ${received.length})`),
          );
        }, timeoutMs);
        const check = () => {
          const hit = received.slice(from).find(predicate);
          if (hit) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          }
        };
        waiters.add(check);
        check();
      });
    },
    close: () => client.endAsync(),
  };
}

export function statusOf(message: Received): { online: boolean } {
  return (JSON.parse(message.payload) as { body: { online: boolean } }).body;
}

/** MQTT topic filter matching (`+` one level, `#` the rest), for clients that watch several filters. */
function matches(filter: string, topic: string): boolean {
  const wanted = filter.split('/');
  const levels = topic.split('/');
  for (const [i, level] of wanted.entries()) {
    if (level === '#') return true;
    if (level !== '+' && level !== levels[i]) return false;
  }
  return wanted.length === levels.length;
}

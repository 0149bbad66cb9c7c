/**
 * MQTT 3.1.1 §4.4 / MQTT 5 §4.4: after a reconnect with a kept session the client re-sends its
 * unacknowledged QoS 1 PUBLISH packets, and mqtt.js does so from its in-memory store, ahead of or
 * among whatever is published next. The outbox pump already replays every unacknowledged event
 * from SQLite, in `seq` order, after each reconnect (outbox-pump.ts). Both together let a
 * re-sent copy of a late event reach the registry before earlier events of the replay (seen in
 * the 30 s outage run: event 627 arrived between 170 and 171). So when the connection closes,
 * mqtt.js forgets its copies of the pump's publishes: the outbox alone decides what is sent again.
 */
import type { MqttClient } from 'mqtt';

type PublishCallback = (error?: Error) => void;

/** Remembers which of the client's pending publishes are the pump's, and forgets them on close. */
export class OutboxResend {
  private readonly pumpCallbacks = new WeakSet<PublishCallback>();

  constructor(private readonly client: MqttClient) {
    client.on('close', () => this.forgetPumpPublishes());
  }

  /** A QoS 1 publish of the pump: `done` hears the PUBACK, or an error if the link closed first. */
  publish(topic: string, payload: string, done: PublishCallback): void {
    const callback: PublishCallback = (error) => done(error);
    this.pumpCallbacks.add(callback);
    this.client.publish(topic, payload, { qos: 1 }, callback);
  }

  private forgetPumpPublishes(): void {
    const { client } = this;
    for (const [id, pending] of Object.entries(client.outgoing)) {
      const callback = pending.cb as PublishCallback;
      if (!this.pumpCallbacks.has(callback)) continue;
      const messageId = Number(id);
      delete client.outgoing[messageId];
      client.outgoingStore.del({ messageId }, () => undefined);
      client.messageIdProvider.deallocate(messageId);
      callback(new Error('link closed: the outbox replays this event'));
    }
  }
}

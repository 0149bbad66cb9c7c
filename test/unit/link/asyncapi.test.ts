import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formattedAsyncApi, MQTT_API_FILE } from '../../../scripts/mqtt-api.js';
import { CHANNELS } from '../../../src/link/asyncapi.js';
import { messageBodies } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';

describe('docs/mqtt-api.yaml (AsyncAPI 3)', () => {
  it('is what the message schemas generate (run `npm run docs:mqtt-api` after changing them)', async () => {
    expect(readFileSync(MQTT_API_FILE, 'utf8')).toBe(await formattedAsyncApi());
  });

  it('documents every message type on some channel', () => {
    const documented = new Set(Object.values(CHANNELS).flatMap((channel) => [...channel.messages]));
    expect([...documented].sort()).toEqual(Object.keys(messageBodies).sort());
    const doc = parse(readFileSync(MQTT_API_FILE, 'utf8')) as {
      asyncapi: string;
      components: {
        messages: Record<string, { name: string; payload: { properties: Record<string, unknown> } }>;
      };
    };
    expect(doc.asyncapi).toBe('3.0.0');
    const names = Object.values(doc.components.messages).map((message) => message.name);
    expect(names.sort()).toEqual(Object.keys(messageBodies).sort());
    for (const message of Object.values(doc.components.messages))
      expect(message.payload.properties).toHaveProperty('body');
  });

  it('names the topics that src/link/topics.ts builds', () => {
    const kioskId = 'hn-0001';
    const expected: Record<keyof typeof CHANNELS, string> = {
      status: topics.status(kioskId),
      telemetry: topics.telemetry(kioskId),
      events: topics.events(kioskId),
      manifest: topics.manifest(kioskId),
      kioskConfig: topics.config(kioskId),
      fleetConfig: topics.fleetConfig(),
      cmd: topics.cmd(kioskId),
      cmdResult: topics.cmdResult(kioskId),
      registryRequest: topics.registryRequest('ping'),
      responses: topics.responses(kioskId),
      updates: topics.updates(kioskId),
      bootstrapEnrol: topics.bootstrapEnrol(),
      bootstrapReply: topics.bootstrapReply('enrol-0123456789abcdef'),
    };
    for (const [name, channel] of Object.entries(CHANNELS))
      expect(
        `cccd/v1/${channel.address}`
          .replace('{kioskId}', kioskId)
          .replace('{op}', 'ping')
          .replace('{clientId}', 'enrol-0123456789abcdef'),
      ).toBe(expected[name as keyof typeof CHANNELS]);
  });
});

/**
 * Writes docs/mqtt-api.yaml (AsyncAPI 3) from the message schemas, formatted as `npm run format`
 * would, so the drift test (test/unit/link/asyncapi.test.ts) compares like with like.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { asyncApiYaml } from '../src/link/asyncapi.js';

export const MQTT_API_FILE = fileURLToPath(new URL('../docs/mqtt-api.yaml', import.meta.url));
export const MQTT_API_VERSION = '1.0.0';

export async function formattedAsyncApi(): Promise<string> {
  const options = (await prettier.resolveConfig(MQTT_API_FILE)) ?? {};
  return prettier.format(asyncApiYaml(MQTT_API_VERSION), { ...options, parser: 'yaml' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(fileURLToPath(new URL('../docs', import.meta.url)), { recursive: true });
  writeFileSync(MQTT_API_FILE, await formattedAsyncApi());
  process.stdout.write(`wrote ${MQTT_API_FILE}\n`);
}

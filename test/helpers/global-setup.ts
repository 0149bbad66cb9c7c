import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { type MosquittoInstance, startMosquitto } from './mosquitto.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mosquittoUrl: string;
  }
}

let mosquitto: MosquittoInstance | undefined;

/** One real Mosquitto for the integration run; tests that stop a broker start their own. */
export async function setup(project: TestProject): Promise<void> {
  // Fails the run with the exact apt-get command when a Debian package is missing and cannot be installed.
  execFileSync('bash', ['scripts/ensure-deps.sh', 'test'], { stdio: 'inherit' });
  mosquitto = await startMosquitto();
  project.provide('mosquittoUrl', mosquitto.url);
}

export async function teardown(): Promise<void> {
  await mosquitto?.stop();
}

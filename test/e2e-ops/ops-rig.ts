/**
 * The world of the dashboard tests: `kiosk demo` (a real kiosk with its embedded broker, registry
 * and emulated devices; it pins the demo operations key `<data dir>/ops/ops.key`), `kiosk-ops
 * serve` as an operator runs it, with that key and a password file, and headless Chromium.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { hashPassword } from '../../src/ops/dashboard/index.js';
import { CHROMIUM } from '../e2e/browser.js';
import { type DemoProcess, ROOT, type Spawned, spawnScript, startDemoProcess } from '../helpers/processes.js';

export const OPS_CLI = fileURLToPath(new URL('../../src/cli/kiosk-ops.ts', import.meta.url));
export const OPS_SCREENS = join(ROOT, 'test-results', 'screens', 'ops');
export const OPERATOR = { name: 'alice', password: 'correct horse battery staple' };

export interface DemoWorld extends DemoProcess {
  opsKeyFile: string;
  opsPublicKey: string;
}

export async function startDemoWorld(kioskId: string): Promise<DemoWorld> {
  const running = await startDemoProcess({
    kioskId,
    prefix: 'kiosk-ops-e2e-',
    env: { KIOSK_LOG_LEVEL: 'warn' },
    vaultLoaded: true,
  });
  return {
    ...running,
    opsKeyFile: join(running.dataDir, 'ops', 'ops.key'),
    opsPublicKey: readFileSync(join(running.dataDir, 'ops', 'ops.pub'), 'utf8').trim(),
  };
}

export interface RunningServe {
  serve: Spawned;
  url: string;
  opsDir: string;
  /** SIGTERM; `keep` leaves the ops dir (rollout records, password file) for the next serve */
  stop(keep?: boolean): Promise<void>;
}

/** `kiosk-ops serve` on a free loopback port, with one operator in its password file. */
export async function startServe(
  brokerUrl: string,
  keyFile: string,
  reuseOpsDir?: string,
): Promise<RunningServe> {
  const opsDir = reuseOpsDir ?? mkdtempSync(join(tmpdir(), 'kiosk-ops-serve-'));
  const passwords = join(opsDir, 'operators');
  writeFileSync(passwords, `${hashPassword(OPERATOR.name, OPERATOR.password)}\n`, { mode: 0o600 });
  const serve = spawnScript(OPS_CLI, [
    'serve',
    '--url',
    brokerUrl,
    '--key',
    keyFile,
    '--passwords',
    passwords,
    '--port',
    '0',
    '--ops-dir',
    opsDir,
    '--log-level',
    'warn',
  ]);
  let url: string;
  try {
    [, url = ''] = await serve.waitFor(/dashboard at (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  } catch (error) {
    serve.child.kill('SIGKILL');
    throw error;
  }
  return {
    serve,
    url,
    opsDir,
    stop: async (keep = false) => {
      serve.child.kill('SIGTERM');
      await serve.exited;
      if (!keep) rmSync(opsDir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium at a desk's size, nothing from the network; page errors fail `close`. */
export async function openDashboard(
  url: string,
): Promise<{ browser: Browser; page: Page; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    // a failed login answers 401 on purpose: the console notes it, it is not a page fault
    if (message.type() === 'error' && !/status of 401/.test(message.text())) errors.push(message.text());
  });
  await page.goto(url);
  return {
    browser,
    page,
    close: async () => {
      await browser.close();
      if (errors.length > 0) throw new Error(`the dashboard logged errors:\n${errors.join('\n')}`);
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(OPS_SCREENS, { recursive: true });
  await page.screenshot({ path: join(OPS_SCREENS, `${name}.png`), fullPage: true });
}

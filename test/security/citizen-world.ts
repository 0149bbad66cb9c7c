/**
 * A real `kiosk demo` process for the citizen-side attacks (issue 12): the kiosk runtime with its
 * UI server, the embedded broker, the reference registry and the emulated devices, driven as a
 * citizen would (over the touchscreen's WebSocket) and as the world around them would (the rig's
 * control socket: a finger on the sensor, a code at the scanner, the card taken).
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { SessionView, UiInput } from '../../src/kiosk/view.js';
import { rigDemoControl } from '../../src/demo/panel.js';
import { SqliteDatabase } from '../../src/store/index.js';
import type { DemoCommand } from '../../src/ui/demo-control.js';
import { type Spawned, startDemoProcess } from '../helpers/processes.js';

export interface CitizenWorld {
  demo: Spawned;
  dataDir: string;
  /** the kiosk's own data directory (store, keys) */
  kioskDir: string;
  uiUrl: string;
  brokerUrl: string;
  kioskId: string;
  rig(command: DemoCommand): Promise<void>;
  stop(): Promise<void>;
}

export async function startCitizenWorld(kioskId: string): Promise<CitizenWorld> {
  const { demo, dataDir, uiUrl, brokerUrl, stop } = await startDemoProcess({
    kioskId,
    prefix: 'kiosk-security-',
    extraArgs: ['--log-level', 'debug'],
    vaultLoaded: true,
  });
  const control = rigDemoControl(join(dataDir, 'rig', 'rig.sock'));
  return {
    demo,
    dataDir,
    kioskDir: join(dataDir, 'kiosk'),
    uiUrl,
    brokerUrl,
    kioskId,
    rig: (command) => control.run(command),
    stop,
  };
}

/** One page's WebSocket to the touchscreen server: the views it received, the inputs it sends. */
export class Screen {
  readonly views: SessionView[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; view: SessionView };
      if (message.type !== 'view') return;
      this.views.push(message.view);
      for (const waiter of this.waiters) waiter();
    });
  }

  static open(uiUrl: string): Promise<Screen> {
    const ws = new WebSocket(`${uiUrl.replace('http', 'ws')}/ws`, { origin: uiUrl });
    const screen = new Screen(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(screen));
      ws.once('error', reject);
    });
  }

  get current(): SessionView | undefined {
    return this.views.at(-1);
  }

  send(input: UiInput): void {
    this.ws.send(JSON.stringify(input));
  }

  /** Resolves with the first view from index `from` on that matches. */
  waitFor(predicate: (view: SessionView) => boolean, timeoutMs = 30_000, from = 0): Promise<SessionView> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `no matching view within ${timeoutMs} ms; last: ${JSON.stringify(this.views.slice(-3).map((v) => [v.screen, v.messageKey]))}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        const hit = this.views.slice(from).find(predicate);
        if (!hit) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(hit);
      };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** An HTTP request to the UI with a chosen Host header (what a DNS-rebound page sends). */
export function requestWithHost(
  uiUrl: string,
  path: string,
  host: string,
  init: { method?: string; body?: string } = {},
): Promise<number> {
  const { port } = new URL(uiUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: init.method ?? 'GET',
        headers: { host, origin: `http://${host}`, 'content-type': 'application/json' },
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.once('error', reject);
    request.end(init.body);
  });
}

/** A WebSocket upgrade with a chosen Host header: the HTTP status it got, or 101 when accepted. */
export function upgradeWithHost(uiUrl: string, host: string): Promise<number> {
  const ws = new WebSocket(`${uiUrl.replace('http', 'ws')}/ws`, {
    headers: { host },
    origin: `http://${host}`,
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('error', reject);
  });
}

/** Every regular file and directory under `dir`, recursively. */
function entriesUnder(dir: string): Array<{ path: string; directory: boolean }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return [{ path, directory: true }, ...entriesUnder(path)];
    return entry.isFile() ? [{ path, directory: false }] : [];
  });
}

/** Every regular file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  return entriesUnder(dir)
    .filter((entry) => !entry.directory)
    .map((entry) => entry.path);
}

/** Files and directories under `dir` (and `dir`) that a group or other user may read or enter. */
export function readableByOthers(dir: string): string[] {
  return [dir, ...entriesUnder(dir).map((entry) => entry.path)].filter(
    (path) => (statSync(path).mode & 0o077) !== 0,
  );
}

/** Every row of every table of a copy of the store (database + WAL), as text. */
export async function everyRowAsText(storeFile: string): Promise<string> {
  const copyDir = mkdtempSync(join(tmpdir(), 'pii-copy-'));
  const copy = join(copyDir, 'kiosk.sqlite');
  for (const suffix of ['', '-wal'])
    if (existsSync(storeFile + suffix)) copyFileSync(storeFile + suffix, copy + suffix);
  const db = await SqliteDatabase.open(copy);
  try {
    const tables = await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'");
    const parts: string[] = [];
    for (const { name } of tables) {
      const rows = await db.all<Record<string, unknown>>(`SELECT * FROM "${name}"`);
      parts.push(
        `${name}: ${JSON.stringify(rows, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('latin1') : value))}`,
      );
    }
    return parts.join('\n');
  } finally {
    await db.close();
    rmSync(copyDir, { recursive: true, force: true });
  }
}

/** Which of `secrets` occur in `haystack` (bytes or text). */
export function hits(haystack: Buffer | string, secrets: readonly string[]): string[] {
  const bytes = typeof haystack === 'string' ? Buffer.from(haystack) : haystack;
  return secrets.filter((secret) => bytes.includes(Buffer.from(secret)));
}

export function readAll(paths: readonly string[]): Buffer {
  return Buffer.concat(paths.map((path) => readFileSync(path)));
}

/**
 * `kiosk-ops serve`: the operations dashboard's HTTP server. Bound to loopback unless told
 * otherwise (put TLS in front of it to reach it from elsewhere). Routes:
 *
 * - `GET /`, `/app.js`, `/app.css`: the page (login form, or the fleet view once logged in);
 * - `GET /healthz`: 200 while the broker is connected, 503 otherwise, with the number of kiosks;
 * - `POST /api/login` `{name, password}` → session cookie (HttpOnly, SameSite=Strict) + CSRF token;
 *   `POST /api/logout`; `GET /api/session` → `{operator, csrf}` or 401;
 * - `GET /api/stream`: Server-Sent Events: `snapshot` (every row, the activity, the rollouts) on
 *   connect, then one `batch` per tick (250 ms) with only what changed;
 * - `GET /api/kiosks/{id}`: the detail of one kiosk (parts, recent faults);
 * - `POST /api/actions/{lock|unlock|resync|config}` and `POST /api/rollouts`,
 *   `POST /api/rollouts/{id}/{pause|resume|abort}`: with the `x-csrf-token` header.
 *
 * Every `/api` route but login requires a session; every POST requires its CSRF token and a
 * same-origin `Origin`. The Host header must be one the dashboard answers to (DNS rebinding).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { allowedHosts, hostAllowed } from '../../ui/host-check.js';
import type { Logger } from '../../util/log.js';
import { ActionRefused, type DashboardCommand, type OpsActions } from './actions.js';
import type { ActivityLog } from './activity.js';
import {
  checkPassword,
  cookieValue,
  csrfMatches,
  LoginThrottle,
  type OperatorSession,
  type parsePasswordFile,
  SessionTable,
} from './auth.js';
import type { FleetModel } from './fleet-model.js';
import { dashboardPage, loadDashboardAssets, type DashboardAsset } from './page.js';
import type { DashboardRollouts } from './rollouts.js';

const COOKIE = 'ops_session';
const MAX_BODY_BYTES = 256 * 1024;
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface DashboardServerOptions {
  host: string;
  port: number;
  operators: ReturnType<typeof parsePasswordFile>;
  model: FleetModel;
  activity: ActivityLog;
  actions: OpsActions;
  rollouts?: DashboardRollouts;
  log: Logger;
  /** how often changes go to the browsers (default 250 ms) */
  batchMs?: number;
  sessionTtlMs?: number;
  /** names besides loopback accepted in the Host header */
  hostNames?: readonly string[];
  /** whether the fleet feed is connected (shown on the page) */
  brokerConnected: () => boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class DashboardServer {
  private server: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  /** open event streams and the session each belongs to (ended with it) */
  private readonly streams = new Map<ServerResponse, string>();
  private readonly sessions: SessionTable;
  private readonly throttle = new LoginThrottle();
  private readonly hosts: ReadonlySet<string>;
  private readonly assets: Map<string, DashboardAsset>;
  private rolloutsChanged = true;

  constructor(private readonly options: DashboardServerOptions) {
    this.sessions = new SessionTable(options.sessionTtlMs ?? 8 * 3600_000);
    this.hosts = allowedHosts(options.hostNames);
    this.assets = loadDashboardAssets();
    options.rollouts?.onChange(() => {
      this.rolloutsChanged = true;
    });
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the dashboard is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => void this.handle(request, response));
    this.server = server;
    server.listen(this.options.port, this.options.host);
    await once(server, 'listening');
    this.ticker = setInterval(() => this.flush(), this.options.batchMs ?? 250);
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    for (const stream of this.streams.keys()) stream.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** One tick: what changed since the last one, as one SSE event to every open stream. */
  private flush(): void {
    const { rows, removed } = this.options.model.takeChanges();
    const activity = this.options.activity.takeChanges();
    const rollouts = this.rolloutsChanged ? this.options.rollouts?.list() : undefined;
    this.rolloutsChanged = false;
    if (rows.length === 0 && removed.length === 0 && activity.length === 0 && !rollouts) return;
    const event = sse('batch', {
      rows,
      removed,
      activity,
      ...(rollouts ? { rollouts } : {}),
      broker: this.options.brokerConnected(),
    });
    for (const [stream, sessionId] of this.streams) {
      // a session that ended (logout, expiry) no longer sees the fleet
      if (this.sessions.find(sessionId)) stream.write(event);
      else this.endStream(stream);
    }
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      if (!hostAllowed(request.headers.host, this.hosts)) throw new HttpError(421, 'unknown host');
      const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
      if (request.method === 'GET' && path === '/healthz')
        // for a supervisor or a load balancer: no kiosk data, only whether the feed is live
        return json(response, this.options.brokerConnected() ? 200 : 503, {
          broker: this.options.brokerConnected(),
          kiosks: this.options.model.size,
        });
      if (request.method === 'GET' && !path.startsWith('/api/')) return this.serveStatic(path, response);
      if (request.method === 'POST' && path === '/api/login') {
        checkOrigin(request); // no logging in from another site's form (login CSRF)
        return await this.login(request, response);
      }
      const session = this.sessions.find(cookieValue(request.headers.cookie, COOKIE));
      if (!session) throw new HttpError(401, 'not logged in');
      if (request.method === 'GET') return this.get(path, session, request, response);
      if (request.method !== 'POST') throw new HttpError(405, 'method not allowed');
      this.checkPost(request, session);
      return await this.post(path, session, request, response);
    } catch (error) {
      this.fail(response, error);
    }
  }

  private serveStatic(path: string, response: ServerResponse): void {
    const asset =
      path === '/' ? { type: 'text/html; charset=utf-8', body: dashboardPage() } : this.assets.get(path);
    if (!asset) throw new HttpError(404, 'not found');
    response.writeHead(200, {
      'content-type': asset.type,
      'content-security-policy': CSP,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    response.end(asset.body);
  }

  private get(
    path: string,
    session: OperatorSession,
    request: IncomingMessage,
    response: ServerResponse,
  ): void {
    if (path === '/api/session')
      return json(response, 200, { operator: session.operator, csrf: session.csrf });
    if (path === '/api/stream') return this.openStream(request, response);
    const kiosk = /^\/api\/kiosks\/([a-z0-9][a-z0-9-]{2,62})$/.exec(path)?.[1];
    if (kiosk) {
      const detail = this.options.model.detail(kiosk);
      if (!detail) throw new HttpError(404, `no kiosk ${kiosk}`);
      return json(response, 200, {
        ...detail,
        activity: this.options.activity.all().filter((entry) => entry.kioskId === kiosk),
      });
    }
    throw new HttpError(404, 'not found');
  }

  /** A request that changes something: from this page (Origin), with the session's CSRF token. */
  private checkPost(request: IncomingMessage, session: OperatorSession): void {
    checkOrigin(request);
    const token = request.headers['x-csrf-token'];
    if (!csrfMatches(session, Array.isArray(token) ? token[0] : token))
      throw new HttpError(403, 'bad CSRF token');
  }

  private async post(
    path: string,
    session: OperatorSession,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    if (path === '/api/logout') {
      const sessionId = cookieValue(request.headers.cookie, COOKIE);
      this.sessions.close(sessionId);
      for (const [stream, owner] of this.streams) if (owner === sessionId) this.endStream(stream);
      response.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
      return json(response, 200, { ok: true });
    }
    const body = await readJson(request);
    const command = /^\/api\/actions\/(lock|unlock|resync)$/.exec(path)?.[1] as DashboardCommand | undefined;
    if (command)
      return json(response, 200, await this.options.actions.command(command, body, session.operator));
    if (path === '/api/actions/config')
      return json(response, 200, await this.options.actions.pushConfig(body, session.operator));
    const rollouts = this.options.rollouts;
    if (path === '/api/rollouts') {
      if (!rollouts) throw new HttpError(501, 'rollouts are not available in this dashboard');
      const id = await rollouts.start(body, session.operator);
      this.rolloutsChanged = true;
      return json(response, 200, { id });
    }
    const control = /^\/api\/rollouts\/([a-z0-9-]{8,64})\/(pause|resume|abort)$/.exec(path);
    if (control && rollouts) {
      await rollouts.control(control[1] ?? '', control[2] as 'pause' | 'resume' | 'abort', session.operator);
      this.rolloutsChanged = true;
      return json(response, 200, { ok: true });
    }
    throw new HttpError(404, 'not found');
  }

  private async login(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const client = request.socket.remoteAddress ?? '?';
    if (!this.throttle.allowed(client)) throw new HttpError(429, 'too many failed logins: wait a minute');
    const body = (await readJson(request)) as { name?: unknown; password?: unknown } | null;
    const name = typeof body?.name === 'string' ? body.name.slice(0, 64) : '';
    const password = typeof body?.password === 'string' ? body.password.slice(0, 1024) : '';
    if (!checkPassword(this.options.operators, name, password)) {
      this.throttle.failed(client);
      this.options.log.warn({ client }, 'ops dashboard: failed login');
      throw new HttpError(401, 'wrong name or password');
    }
    const { id, session } = this.sessions.open(name);
    this.options.log.info({ operator: name }, 'ops dashboard: operator logged in');
    response.setHeader(
      'set-cookie',
      `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor((session.expiresAt - Date.now()) / 1000)}`,
    );
    json(response, 200, { operator: name, csrf: session.csrf });
  }

  private openStream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    response.write(
      sse('snapshot', {
        rows: this.options.model.rows(),
        activity: this.options.activity.all(),
        rollouts: this.options.rollouts?.list() ?? [],
        rolloutsAvailable: this.options.rollouts !== undefined,
        broker: this.options.brokerConnected(),
      }),
    );
    this.streams.set(response, cookieValue(request.headers.cookie, COOKIE) ?? '');
    request.once('close', () => this.streams.delete(response));
  }

  private endStream(stream: ServerResponse): void {
    this.streams.delete(stream);
    stream.end();
  }

  private fail(response: ServerResponse, error: unknown): void {
    if (response.headersSent) return void response.end();
    if (error instanceof HttpError) return json(response, error.status, { error: error.message });
    if (error instanceof ActionRefused) return json(response, 400, { error: error.message });
    const message = (error as Error).message?.split('\n')[0] ?? 'error';
    // the engine refuses a bad plan with its own error classes: a bad request, said as it says it
    if (/Invalid|Refused|NotFound/.test((error as Error).name ?? ''))
      return json(response, 400, { error: message.slice(0, 300) });
    this.options.log.error({ err: message }, 'ops dashboard: request failed');
    json(response, 500, { error: 'internal error' });
  }
}

/** A browser's POST carries Origin: it must be this dashboard's own. */
function checkOrigin(request: IncomingMessage): void {
  const origin = request.headers.origin;
  const host = request.headers.host;
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`)
    throw new HttpError(403, 'cross-origin request refused');
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function json(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(value));
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/.test(request.headers['content-type'] ?? ''))
    throw new HttpError(415, 'expected application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SessionController } from '../kiosk/view.js';
import type { Health, HealthState, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import { type DemoControl, DemoCommandSchema, RigControlError } from './demo-control.js';
import { appPage, loadAssets, type StaticAsset } from './app-page.js';
import { allowedHosts, hostAllowed } from './host-check.js';
import { SessionSocket } from './session-socket.js';
import { type SpeechConfig, SpeechService } from './speech/service.js';
import { speechReply } from './speech/route.js';
import { statusPage } from './status-page.js';

export interface UiStatus {
  kioskId: string;
  version: string;
  startedAt: string;
  parts: Record<string, Health>;
}

export interface UiServerOptions {
  host: string;
  port: number;
  log: Logger;
  status: () => UiStatus;
  /** the citizen sessions: with them `/` is the touchscreen app, without them the status page */
  sessions?: SessionController;
  /** `kiosk demo` only: the control panel's hands on the emulated devices */
  demo?: DemoControl;
  /** audio guidance (with `sessions`): espeak-ng speaks each screen, served at `/speech/…` */
  speech?: SpeechConfig;
  /** names accepted in the Host header besides 127.0.0.1, localhost and [::1] (`ui.hostNames`) */
  hostNames?: readonly string[];
}

/** The largest request body the server reads (the demo panel's commands). */
const MAX_BODY_BYTES = 2048;

/**
 * The local UI server, bound to loopback only: the touchscreen's browser runs on the same
 * machine. Serves the touchscreen app at `/` (its view pushed over the WebSocket `/ws`), the
 * status page at `/status`, the spoken guidance at `/speech/{vi|en}/{clip}.wav`, `GET /healthz` (200 when every part is up, 503 otherwise, JSON
 * either way) and `GET /api/status`; in the demo also `/demo/citizens` and `POST /demo/control`.
 */
export class UiServer implements Service {
  readonly name = 'ui';
  private server: Server | undefined;
  private socket: SessionSocket | undefined;
  private readonly assets: Map<string, StaticAsset>;
  private readonly speech: SpeechService | undefined;
  private readonly hosts: ReadonlySet<string>;

  constructor(private readonly options: UiServerOptions) {
    this.assets = options.sessions ? loadAssets() : new Map();
    this.hosts = allowedHosts(options.hostNames);
    if (options.sessions && options.speech)
      this.speech = new SpeechService(options.speech, options.log.child({ part: 'speech' }));
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('UI server is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => this.handle(request, response));
    if (this.options.sessions) {
      const socket = new SessionSocket(this.options.sessions, this.options.log);
      socket.start();
      this.socket = socket;
      server.on('upgrade', (request, stream, head) => {
        if (this.foreignHost(request)) return refuseUpgrade(stream);
        socket.upgrade(request, stream, head);
      });
    } else {
      server.on('upgrade', (_request, stream) => stream.destroy());
    }
    server.listen(this.options.port, this.options.host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    this.server = server;
    // the clips are rendered in the background: the page works (silently) until they are
    void this.speech?.prerender();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const method = request.method ?? 'GET';
    const reply = (reply: Reply) => {
      response.writeHead(reply.status, {
        'content-type': reply.type,
        'cache-control': reply.cacheControl ?? 'no-store',
        'x-content-type-options': 'nosniff',
        'content-security-policy': reply.csp ?? STATUS_PAGE_CSP,
      });
      response.end(reply.body);
    };
    const failed = (error: unknown) => {
      this.options.log.error({ err: error, path }, 'ui: request failed');
      return json(500, { error: 'internal error' });
    };
    if (this.foreignHost(request)) return reply(json(421, { error: 'unknown host' }));
    const speech = this.speech;
    if (speech && method === 'GET' && path.startsWith('/speech/')) {
      // the query (a code to spell) is never logged: `failed` names the path only
      speechReply(speech, request.url ?? path).then(
        (clip) => reply(clip ? { ...clip, csp: APP_CSP } : json(404, { error: 'no such clip' })),
        (error: unknown) => reply(failed(error)),
      );
      return;
    }
    const demo = this.options.demo;
    if (demo && method === 'POST' && path === '/demo/control') {
      this.demoControl(request, demo).then(reply, (error: unknown) => reply(failed(error)));
      return;
    }
    if (demo?.lastReceiptPng && method === 'GET' && path === '/demo/receipt.png') {
      demo.lastReceiptPng().then(
        (png) =>
          // 204 before the first receipt: the panel polls, and a 404 would be a console error in the page
          reply(
            png
              ? { status: 200, type: 'image/png', body: png }
              : { status: 204, type: 'image/png', body: '' },
          ),
        (error: unknown) => reply(failed(error)),
      );
      return;
    }
    if (demo && method === 'GET' && path === '/demo/citizens') {
      demo.citizens().then(
        (citizens) => reply(json(200, citizens)),
        (error: unknown) => reply(failed(error)),
      );
      return;
    }
    try {
      reply(this.route(method, path));
    } catch (error) {
      reply(failed(error));
    }
  }

  /** A Host header that is not one of the kiosk's own names (DNS rebinding): every route refuses it. */
  private foreignHost(request: IncomingMessage): boolean {
    if (hostAllowed(request.headers.host, this.hosts)) return false;
    this.options.log.warn(
      { path: (request.url ?? '/').split('?')[0] },
      'ui: request for a foreign host refused',
    );
    return true;
  }

  /** Runs one control-panel command on the demo rig; 400 for anything that is not one. */
  private async demoControl(request: IncomingMessage, demo: DemoControl): Promise<Reply> {
    if (request.headers.origin !== undefined && request.headers.origin !== `http://${request.headers.host}`)
      return json(403, { error: 'foreign origin' });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return json(413, { error: 'too large' });
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return json(400, { error: 'not JSON' });
    }
    const command = DemoCommandSchema.safeParse(body);
    if (!command.success) return json(400, { error: 'not a demo command' });
    try {
      await demo.run(command.data);
    } catch (error) {
      if (error instanceof RigControlError) return json(409, { error: error.message });
      throw error;
    }
    return json(200, { ok: true });
  }

  private route(method: string, path: string): Reply {
    if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'method not allowed' });
    if (path === '/healthz') {
      const status = this.options.status();
      const overall = overallState(status.parts);
      return json(overall === 'up' ? 200 : 503, {
        status: overall,
        kioskId: status.kioskId,
        version: status.version,
        parts: status.parts,
      });
    }
    if (path === '/api/status') {
      const status = this.options.status();
      return json(200, { ...status, status: overallState(status.parts) });
    }
    if (path === '/status' || (path === '/' && !this.options.sessions))
      return { status: 200, type: 'text/html; charset=utf-8', body: statusPage() };
    if (this.options.sessions) {
      if (path === '/')
        return {
          status: 200,
          type: 'text/html; charset=utf-8',
          body: appPage({ demo: this.options.demo !== undefined, speech: this.speech?.enabled ?? false }),
          csp: APP_CSP,
        };
      const asset = this.assets.get(path);
      if (asset) return { status: 200, type: asset.type, body: asset.body, csp: APP_CSP };
    }
    return json(404, { error: 'not found' });
  }

  async stop(): Promise<void> {
    this.speech?.stop();
    const server = this.server;
    this.server = undefined;
    await this.socket?.stop();
    this.socket = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  health(): Health {
    return this.server?.listening ? { state: 'up' } : { state: 'down' };
  }
}

export function overallState(parts: Record<string, Health>): HealthState {
  const states = Object.values(parts).map((part) => part.state);
  if (states.every((state) => state === 'up')) return 'up';
  if (states.some((state) => state === 'down' || state === 'stopped')) return 'down';
  return 'degraded';
}

interface Reply {
  status: number;
  type: string;
  body: string | Buffer;
  /** Content-Security-Policy; the status page's (inline script) unless said otherwise */
  csp?: string;
  /** Cache-Control; `no-store` unless said otherwise */
  cacheControl?: string;
}

const STATUS_PAGE_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'";
/**
 * The touchscreen app: no inline script, nothing from elsewhere. `connect-src 'self'` covers the
 * WebSocket to the same host and port (CSP Level 3 §6.7.2.8 matches ws: to http: 'self').
 */
const APP_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function refuseUpgrade(stream: Duplex): void {
  stream.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

function json(status: number, body: unknown): Reply {
  return { status, type: 'application/json', body: JSON.stringify(body) };
}

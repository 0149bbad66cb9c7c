import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Health, HealthState, Service } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';
import { statusPage } from './status-page.js';

export interface UiStatus {
  kioskId: string;
  version: string;
  startedAt: string;
  parts: Record<string, Health>;
}

/**
 * The local UI server, bound to loopback only: the touchscreen's browser runs on the same
 * machine. Serves the page, `GET /healthz` (200 when every part is up, 503 otherwise, JSON
 * either way) and `GET /api/status`.
 */
export class UiServer implements Service {
  readonly name = 'ui';
  private server: Server | undefined;

  constructor(
    private readonly options: { host: string; port: number; log: Logger; status: () => UiStatus },
  ) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('UI server is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => this.handle(request, response));
    server.listen(this.options.port, this.options.host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    this.server = server;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    let reply: Reply;
    try {
      reply = this.route(request.method ?? 'GET', path);
    } catch (error) {
      this.options.log.error({ err: error, path }, 'ui: request failed');
      reply = json(500, { error: 'internal error' });
    }
    response.writeHead(reply.status, {
      'content-type': reply.type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy':
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
    });
    response.end(reply.body);
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
    if (path === '/') return { status: 200, type: 'text/html; charset=utf-8', body: statusPage() };
    return json(404, { error: 'not found' });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
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
  body: string;
}

function json(status: number, body: unknown): Reply {
  return { status, type: 'application/json', body: JSON.stringify(body) };
}

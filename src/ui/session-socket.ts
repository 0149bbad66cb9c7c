import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { SessionController, SessionView } from '../kiosk/view.js';
import { UiInputSchema } from '../kiosk/view.js';
import type { Logger } from '../util/log.js';

/** What the server sends to the page: every new view, whole (the page keeps no state of its own). */
export interface ViewMessage {
  type: 'view';
  view: SessionView;
}

/** The largest input the page can send: an edit with a 200-character address and an e-mail. */
const MAX_INPUT_BYTES = 4096;

/**
 * The WebSocket at `/ws`: pushes the session view to every connected page and hands the page's
 * inputs, validated with `UiInputSchema`, to the session controller. Only pages served by this
 * server may connect (the Origin must be this host), so no other site open in the kiosk's browser
 * can drive a session (RFC 6455 §10.2, origin considerations).
 */
export class SessionSocket {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INPUT_BYTES });
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly sessions: SessionController,
    private readonly log: Logger,
  ) {
    this.wss.on('connection', (socket) => this.accept(socket));
  }

  start(): void {
    this.unsubscribe = this.sessions.subscribe((view) => this.broadcast(view));
  }

  /** Takes over an HTTP upgrade on `/ws`; anything else is refused with a status line. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (request.url ?? '/').split('?')[0];
    const host = request.headers.host;
    const origin = request.headers.origin;
    if (path !== '/ws') return refuse(socket, 404, 'Not Found');
    if (!host || origin !== `http://${host}`) {
      this.log.warn({ origin: origin ?? null }, 'ui: websocket from a foreign origin refused');
      return refuse(socket, 403, 'Forbidden');
    }
    this.wss.handleUpgrade(request, socket, head, (client) => this.wss.emit('connection', client, request));
  }

  get clients(): number {
    return this.wss.clients.size;
  }

  private accept(socket: WebSocket): void {
    socket.on('error', (error) => this.log.warn({ err: error }, 'ui: websocket error'));
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    send(socket, this.sessions.current());
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.log.warn('ui: binary websocket message ignored');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawText(data));
    } catch {
      this.log.warn('ui: websocket message is not JSON; ignored');
      return;
    }
    const input = UiInputSchema.safeParse(parsed);
    if (!input.success) {
      // Only the paths and codes: the values may be what a citizen typed.
      const issues = input.error.issues.map((issue) => ({ path: issue.path.join('.'), code: issue.code }));
      this.log.warn({ issues }, 'ui: invalid input ignored');
      return;
    }
    try {
      this.sessions.handle(input.data);
    } catch (error) {
      this.log.error({ err: error, input: input.data.type }, 'ui: session controller failed on input');
    }
  }

  private broadcast(view: SessionView): void {
    for (const client of this.wss.clients) send(client, view);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function send(socket: WebSocket, view: SessionView): void {
  if (socket.readyState !== socket.OPEN) return;
  const message: ViewMessage = { type: 'view', view };
  socket.send(JSON.stringify(message));
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

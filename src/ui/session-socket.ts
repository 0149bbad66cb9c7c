import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { SessionController, SessionView } from '../kiosk/view.js';
import { type UiInput, UiInputSchema } from '../kiosk/view.js';
import type { Logger } from '../util/log.js';

/** What the server sends to the page: every new view, whole (the page keeps no state of its own). */
export interface ViewMessage {
  type: 'view';
  view: SessionView;
}

/** The largest input the page can send: an edit with a 200-character address and an e-mail. */
const MAX_INPUT_BYTES = 4096;

/**
 * The WebSocket at `/ws`: pushes the session view to the connected pages and hands the page's
 * inputs, validated with `UiInputSchema`, to the session controller. Only pages served by this
 * server may connect (the Origin must be this host), so no other site open in the kiosk's browser
 * can drive a session (RFC 6455 §10.2, origin considerations).
 *
 * A session belongs to the screen that started it (issue 12): only that socket receives the whole
 * view (masked ID, the citizen's phone, e-mail and address, codes) and only its inputs are taken.
 * Every other socket gets the public part of the view (screen, countdown, progress) and is not
 * listened to until the session ends. A session started without a screen (in-process) belongs to
 * the earliest open socket. The owner's socket closing mid-session cancels the session: its
 * secrets are purged, and a reloaded page starts afresh.
 */
export class SessionSocket {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INPUT_BYTES });
  private unsubscribe: (() => void) | undefined;
  /** the socket that started the session in progress (undefined between sessions) */
  private owner: WebSocket | undefined;

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
    socket.on('message', (data, isBinary) => this.receive(socket, data, isBinary));
    socket.on('close', () => this.closed(socket));
    send(socket, this.viewFor(socket, this.sessions.current()));
  }

  private receive(socket: WebSocket, data: RawData, isBinary: boolean): void {
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
    if (!this.claim(socket, input.data)) {
      this.log.warn(
        { input: input.data.type },
        'ui: input from a screen that does not own the session ignored',
      );
      return;
    }
    try {
      this.sessions.handle(input.data);
    } catch (error) {
      this.log.error({ err: error, input: input.data.type }, 'ui: session controller failed on input');
    }
  }

  private broadcast(view: SessionView): void {
    if (isIdle(view)) this.owner = undefined; // the session ended: the next start claims it afresh
    for (const client of this.wss.clients) send(client, this.viewFor(client, view));
  }

  // ---- session ownership (issue 12) ---------------------------------------------------------------

  /** Whether `socket` may drive the session with `input`; a start between sessions claims it. */
  private claim(socket: WebSocket, input: UiInput): boolean {
    if (isIdle(this.sessions.current())) {
      if (input.type === 'start' || input.type === 'ask-status') this.owner = socket;
      return true;
    }
    return this.owner === undefined ? socket === this.earliest() : this.owner === socket;
  }

  /** The whole view for the screen owning the session; the public part for every other socket. */
  private viewFor(socket: WebSocket, view: SessionView): SessionView {
    const owner = this.owner ?? this.earliest();
    return socket === owner || isIdle(view) ? view : publicView(view);
  }

  private earliest(): WebSocket | undefined {
    for (const client of this.wss.clients) if (client.readyState === client.OPEN) return client;
    return undefined;
  }

  private closed(socket: WebSocket): void {
    if (this.owner !== socket) return;
    this.owner = undefined;
    if (!isIdle(this.sessions.current())) {
      this.log.warn('ui: the screen owning the session went away; session cancelled');
      this.sessions.handle({ type: 'cancel' });
    }
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function isIdle(view: SessionView): boolean {
  return view.screen === 'attract' || view.screen === 'out-of-service';
}

/** What a screen that does not own the session may see: where the session is, nothing of whose. */
export function publicView(view: SessionView): SessionView {
  const { seq, screen, flow, countdown, progress, attemptsLeft, messageKey, outOfService } = view;
  return {
    seq,
    screen,
    flow,
    ...(countdown ? { countdown } : {}),
    ...(progress ? { progress } : {}),
    ...(attemptsLeft !== undefined ? { attemptsLeft } : {}),
    ...(messageKey ? { messageKey } : {}),
    ...(outOfService ? { outOfService } : {}),
  };
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

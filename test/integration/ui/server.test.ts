import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../helpers/device-rig.js';
import WebSocket from 'ws';
import type { SessionView } from '../../../src/kiosk/view.js';
import type { DemoCommand } from '../../../src/ui/demo-control.js';
import { UiServer } from '../../../src/ui/server.js';
import { capturingLogger } from '../../helpers/logs.js';
import { ViewFeeder } from '../../helpers/view-feeder.js';

const running: UiServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.stop()));
});

async function startUi(options: { demo?: DemoCommand[]; receiptPng?: Buffer } = {}) {
  const sessions = new ViewFeeder();
  const capture = capturingLogger();
  const demoRuns = options.demo;
  const server = new UiServer({
    host: '127.0.0.1',
    port: 0,
    log: capture.log,
    status: () => ({ kioskId: 'k-1', version: '0.0.0', startedAt: 'now', parts: { ui: { state: 'up' } } }),
    sessions,
    ...(demoRuns
      ? {
          demo: {
            citizens: async () => [
              { pickupId: 'PK-1', name: 'Trần Thị Mai', pickupCode: 'PK-1', cardQr: '001|x' },
            ],
            run: async (command: DemoCommand) => {
              demoRuns.push(command);
            },
            lastReceiptPng: async () => options.receiptPng,
          },
        }
      : {}),
  });
  await server.start();
  running.push(server);
  return { server, sessions, capture, url: server.url };
}

function openSocket(
  url: string,
  origin: string | null = url,
): Promise<{ ws: WebSocket; views: SessionView[] }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, origin ? { origin } : {});
  const views: SessionView[] = [];
  ws.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as { type: string; view: SessionView };
    if (message.type === 'view') views.push(message.view);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, views }));
    ws.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('UI server with the citizen sessions', () => {
  it('serves the app with a strict CSP, and keeps the status page, /healthz and /api/status', async () => {
    const { url } = await startUi();
    const app = await fetch(`${url}/`);
    expect(app.status).toBe(200);
    const csp = app.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await app.text();
    expect(html).toContain('<script type="module" src="/app.js"');
    expect(html).not.toContain('demo-panel'); // no control panel outside the demo
    expect((await fetch(`${url}/app.js`)).headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${url}/app.css`)).status).toBe(200);
    expect(await (await fetch(`${url}/status`)).text()).toContain('Trạng thái / Status');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(((await (await fetch(`${url}/api/status`)).json()) as { kioskId: string }).kioskId).toBe('k-1');
    expect((await fetch(`${url}/demo/citizens`)).status).toBe(404);
    expect((await fetch(`${url}/demo/control`, { method: 'POST', body: '{}' })).status).toBe(405);
  });

  it('pushes the current view on connect, and every new view whole to the page owning the session only', async () => {
    const { url, sessions } = await startUi();
    const first = await openSocket(url);
    const second = await openSocket(url);
    await until(() => first.views.length === 1 && second.views.length === 1);
    expect(first.views[0]?.screen).toBe('attract');
    const pushed = sessions.push({
      screen: 'finger',
      flow: 'pickup',
      maskedId: '001*******45',
      attemptsLeft: 3,
    });
    await until(() => first.views.length === 2 && second.views.length === 2);
    expect(first.views[1]).toEqual(pushed);
    expect(second.views[1]).toEqual({ seq: pushed.seq, screen: 'finger', flow: 'pickup', attemptsLeft: 3 });
    first.ws.close();
    second.ws.close();
  });

  it("sends a citizen's contact data only to the screen that started the session, and takes inputs from it alone", async () => {
    const { url, sessions } = await startUi();
    const listener = await openSocket(url); // connected first: it must not inherit the session
    const screen = await openSocket(url);
    screen.ws.send(JSON.stringify({ type: 'start', flow: 'update' }));
    await until(() => sessions.inputs.length === 1);
    const record = {
      phone: '0912345678',
      email: 'mai@example.vn',
      residence: { provinceCode: '01', wardCode: '00004', detail: '12 Phố Huế' },
    };
    const pushed = sessions.push({
      screen: 'update-record',
      flow: 'update',
      maskedId: '001*******45',
      record,
    });
    await until(() => screen.views.length === 2 && listener.views.length === 2);
    expect(screen.views[1]).toEqual(pushed);
    expect(JSON.stringify(listener.views)).not.toMatch(/0912345678|mai@example|Phố Huế|\*{7}/);
    listener.ws.send(JSON.stringify({ type: 'cancel' }));
    screen.ws.send(JSON.stringify({ type: 'confirm' }));
    await until(() => sessions.inputs.length === 2);
    expect(sessions.inputs.map((input) => input.type)).toEqual(['start', 'confirm']);
    // the owner's page going away cancels the session (its secrets are purged)
    screen.ws.close();
    await until(() => sessions.inputs.length === 3);
    expect(sessions.inputs.at(-1)).toEqual({ type: 'cancel' });
    listener.ws.close();
  });

  it('refuses every HTTP route and the WebSocket for a Host that is not the kiosk’s own (DNS rebinding)', async () => {
    const { url, sessions } = await startUi({ demo: [] });
    const port = new URL(url).port;
    const asHost = (path: string, host: string, init: { method?: string; body?: string } = {}) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path,
            method: init.method ?? 'GET',
            headers: { host, origin: `http://${host}` },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.once('error', reject);
        request.end(init.body);
      });
    for (const path of ['/', '/healthz', '/api/status', '/status', '/app.js', '/demo/citizens'])
      expect(await asHost(path, `rebind.example:${port}`), path).toBe(421);
    expect(
      await asHost('/demo/control', `rebind.example:${port}`, {
        method: 'POST',
        body: '{"type":"take-card"}',
      }),
    ).toBe(421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost'])
      expect(await asHost('/healthz', host), host).toBe(200);
    const rebound = new WebSocket(`${url.replace('http', 'ws')}/ws`, {
      headers: { host: `rebind.example:${port}` },
      origin: `http://rebind.example:${port}`,
    });
    await expect(
      new Promise((_resolve, reject) => {
        rebound.once('unexpected-response', (_request, response) =>
          reject(new Error(`HTTP ${response.statusCode}`)),
        );
        rebound.once('error', reject);
      }),
    ).rejects.toThrow('HTTP 403');
    expect(sessions.inputs).toEqual([]);
  });

  it('hands valid inputs to the controller and drops invalid ones, logging no typed value', async () => {
    const { url, sessions, capture } = await startUi();
    const { ws } = await openSocket(url);
    ws.send(JSON.stringify({ type: 'enter-id', idNumber: '001234567890123456789999' })); // too long
    ws.send(JSON.stringify({ type: 'start', flow: 'pickup', extra: '079912345678' })); // unknown key
    ws.send('not json');
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    ws.send(JSON.stringify({ type: 'start', flow: 'pickup' }));
    ws.send(JSON.stringify({ type: 'enter-id', idNumber: '079912345678' }));
    await until(() => sessions.inputs.length === 2);
    expect(sessions.inputs).toEqual([
      { type: 'start', flow: 'pickup' },
      { type: 'enter-id', idNumber: '079912345678' },
    ]);
    await until(() => capture.text().includes('ui: invalid input ignored'));
    expect(capture.lines().filter((line) => line.includes('ignored')).length).toBe(4);
    expect(capture.text()).not.toContain('001234567890123456789999');
    expect(capture.text()).not.toContain('079912345678');
    ws.close();
  });

  it('refuses a WebSocket from another origin and other paths', async () => {
    const { url, sessions } = await startUi();
    await expect(openSocket(url, 'http://evil.example')).rejects.toThrow('HTTP 403');
    await expect(openSocket(url, null)).rejects.toThrow('HTTP 403');
    const other = new WebSocket(`${url.replace('http', 'ws')}/other`, { origin: url });
    await expect(
      new Promise((_resolve, reject) => {
        other.once('unexpected-response', (_request, response) =>
          reject(new Error(`HTTP ${response.statusCode}`)),
        );
        other.once('error', reject);
      }),
    ).rejects.toThrow('HTTP 404');
    expect(sessions.inputs).toEqual([]);
  });

  it("in the demo, serves the printer emulator's last receipt PNG, 204 (no content) before the first", async () => {
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const { url } = await startUi({ demo: [], receiptPng: png });
    const response = await fetch(`${url}/demo/receipt.png?t=1`);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(png);
    const before = await startUi({ demo: [] });
    expect((await fetch(`${before.url}/demo/receipt.png`)).status).toBe(204);
    expect((await fetch(`${(await startUi()).url}/demo/receipt.png`)).status).toBe(404); // not a demo
  });

  it('in the demo, serves the presets and runs valid control commands only', async () => {
    const runs: DemoCommand[] = [];
    const { url } = await startUi({ demo: runs });
    expect(await (await fetch(`${url}/`)).text()).toContain('demo-panel');
    const citizens = (await (await fetch(`${url}/demo/citizens`)).json()) as Array<{ pickupCode: string }>;
    expect(citizens[0]?.pickupCode).toBe('PK-1');
    const post = (body: string, origin = url) =>
      fetch(`${url}/demo/control`, {
        method: 'POST',
        body,
        headers: { origin, 'content-type': 'application/json' },
      });
    expect((await post(JSON.stringify({ type: 'finger', who: 'PK-1' }))).status).toBe(200);
    expect((await post(JSON.stringify({ type: 'unplug', device: 'dispenser' }))).status).toBe(200);
    expect((await post(JSON.stringify({ type: 'unplug', device: 'kettle' }))).status).toBe(400);
    expect((await post(JSON.stringify({ type: 'scan', text: 'a\nunplug scanner' }))).status).toBe(400);
    expect((await post('{')).status).toBe(400);
    expect((await post('x'.repeat(5000))).status).toBe(413);
    expect((await post(JSON.stringify({ type: 'take-card' }), 'http://evil.example')).status).toBe(403);
    expect(runs).toEqual([
      { type: 'finger', who: 'PK-1' },
      { type: 'unplug', device: 'dispenser' },
    ]);
  });
});

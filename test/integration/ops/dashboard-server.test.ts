import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateOpsKeyPair, pinKeys, privateKeyFromPem, verifyEnvelope } from '../../../src/fleet/index.js';
import { decodeMessage, envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { hashPassword, type RunningDashboard, startDashboard } from '../../../src/ops/dashboard/index.js';
import { quietLogger } from '../../helpers/logs.js';
import { type MosquittoInstance, freePort, startMosquitto } from '../../helpers/mosquitto.js';
import { watchTopic } from '../../helpers/mqtt-watch.js';
import { ROOT } from '../../helpers/processes.js';

/**
 * The dashboard server over HTTP, as a browser (or an attacker's page) reaches it, on a real
 * Mosquitto: the login and its cookie, CSRF and Origin checks, the Host allow-list, signed actions
 * landing on the kiosk's topic, settings validated before signing, and the SSE snapshot + batches.
 * The page itself is tested in Chromium by test/e2e-ops (npm run test:ops-e2e).
 */
const PASSWORD = 'correct horse battery staple';
const ops = generateOpsKeyPair();
let broker: MosquittoInstance;
let dashboard: RunningDashboard;
let kiosk: MqttClient;

beforeAll(async () => {
  broker = await startMosquitto();
  kiosk = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  await kiosk.publishAsync(
    topics.status('hn-0001'),
    JSON.stringify(envelope('kiosk.status', 'hn-0001', { online: true, version: '0.1.0' })),
    { qos: 1, retain: true },
  );
  dashboard = await startDashboard({
    broker: { url: broker.url },
    key: privateKeyFromPem(ops.privateKeyPem),
    passwords: `${hashPassword('alice', PASSWORD)}\n`,
    host: '127.0.0.1',
    port: 0,
    log: quietLogger(),
  });
});

afterAll(async () => {
  await dashboard?.stop();
  await kiosk?.endAsync();
  await broker?.stop();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${dashboard.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** A POST with a Host header of our choosing (fetch forbids setting it): a DNS-rebinding page. */
function postWithHost(path: string, body: unknown, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${dashboard.url}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify(body));
  });
}

async function login(): Promise<{ cookie: string; csrf: string }> {
  const response = await post('/api/login', { name: 'alice', password: PASSWORD });
  expect(response.status).toBe(200);
  const cookie = response.headers.get('set-cookie') ?? '';
  const { csrf } = (await response.json()) as { csrf: string };
  return { cookie: cookie.split(';')[0] ?? '', csrf };
}

describe('kiosk-ops serve over HTTP', () => {
  it('serves the page under a strict CSP, and /healthz with the broker state and the kiosk count', async () => {
    const page = await fetch(`${dashboard.url}/`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    await expect
      .poll(async () => (await (await fetch(`${dashboard.url}/healthz`)).json()) as unknown)
      .toEqual({
        broker: true,
        kiosks: 1,
      });
  });

  it('gives a session cookie that scripts cannot read and other sites cannot send, only for the right password', async () => {
    expect((await post('/api/login', { name: 'alice', password: 'wrong password!' })).status).toBe(401);
    const response = await post('/api/login', { name: 'alice', password: PASSWORD });
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^ops_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    // a login form posted from another site is refused (login CSRF)
    expect(
      (await post('/api/login', { name: 'alice', password: PASSWORD }, { origin: 'http://evil.example' }))
        .status,
    ).toBe(403);
  });

  it('refuses an action without a session, without its CSRF token, from another origin or another Host', async () => {
    const { cookie, csrf } = await login();
    const body = { kiosks: ['hn-0001'] };
    expect((await post('/api/actions/lock', body)).status).toBe(401);
    expect((await post('/api/actions/lock', body, { cookie })).status).toBe(403);
    expect((await post('/api/actions/lock', body, { cookie, 'x-csrf-token': 'x'.repeat(43) })).status).toBe(
      403,
    );
    expect(
      (await post('/api/actions/lock', body, { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' }))
        .status,
    ).toBe(403);
    expect(
      await postWithHost('/api/actions/lock', body, {
        cookie,
        'x-csrf-token': csrf,
        host: 'evil.example:80',
      }),
    ).toBe(421);
  });

  it('signs a lock with the ops key, bound to the kiosk, and publishes it on its cmd topic', async () => {
    const commands = await watchTopic(broker.url, topics.cmd('hn-0001'));
    try {
      const { cookie, csrf } = await login();
      const response = await post(
        '/api/actions/lock',
        { kiosks: ['hn-0001'] },
        { cookie, 'x-csrf-token': csrf },
      );
      expect(response.status).toBe(200);
      const received = await commands.waitFor(() => true);
      const message = decodeMessage(received.payload, 'command.request');
      expect(() => verifyEnvelope(message, pinKeys([ops.publicKey]))).not.toThrow();
      expect(message.to).toBe('hn-0001');
      expect(message.body.name).toBe('lock');
    } finally {
      await commands.client.endAsync();
    }
  });

  it('refuses settings the kiosk config schema refuses, before signing or publishing anything', async () => {
    const configs = await watchTopic(broker.url, topics.config('hn-0001'));
    try {
      const { cookie, csrf } = await login();
      const response = await post(
        '/api/actions/config',
        { kiosks: ['hn-0001'], settings: { log: { level: 'loud' } } },
        { cookie, 'x-csrf-token': csrf },
      );
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/^invalid settings: .*log\.level/);
      const accepted = await post(
        '/api/actions/config',
        { kiosks: ['hn-0001'], settings: { log: { level: 'debug' } } },
        { cookie, 'x-csrf-token': csrf },
      );
      expect(accepted.status).toBe(200);
      const received = await configs.waitFor(() => true);
      expect(decodeMessage(received.payload, 'config.push').body).toMatchObject({
        version: 1,
        kioskId: 'hn-0001',
      });
      expect(configs.received).toHaveLength(1);
      // retained: a kiosk that connects later gets it
      const later = await watchTopic(broker.url, topics.config('hn-0001'));
      expect((await later.waitFor(() => true)).retain).toBe(true);
      await later.client.endAsync();
    } finally {
      await configs.client.endAsync();
    }
  });

  it('streams a snapshot of the fleet, then the changes in batches, until the operator logs out', async () => {
    const { cookie, csrf } = await login();
    const controller = new AbortController();
    const response = await fetch(`${dashboard.url}/api/stream`, {
      headers: { cookie },
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await readUntil(/event: snapshot\ndata: .*\n\n/);
    expect(text).toContain('"id":"hn-0001"');
    await kiosk.publishAsync(
      topics.status('hn-0002'),
      JSON.stringify(envelope('kiosk.status', 'hn-0002', { online: true, version: '0.3.0' })),
      { qos: 1, retain: true },
    );
    await readUntil(/event: batch\ndata: .*"hn-0002".*\n\n/);
    expect(text).toContain('"software":"0.3.0"');
    expect((await post('/api/logout', {}, { cookie, 'x-csrf-token': csrf })).status).toBe(200);
    // the stream ends with the session (at the next batch, or now)
    await kiosk.publishAsync(
      topics.status('hn-0002'),
      JSON.stringify(envelope('kiosk.status', 'hn-0002', { online: false })),
      { qos: 1, retain: true },
    );
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      expect(new TextDecoder().decode(chunk.value)).not.toContain('"online":false');
    expect((await fetch(`${dashboard.url}/api/stream`, { headers: { cookie } })).status).toBe(401);
    controller.abort();
  });
});

const OPS_CLI = fileURLToPath(new URL('../../../src/cli/kiosk-ops.ts', import.meta.url));
const run = promisify(execFile);

async function kioskOps(args: string[]): Promise<{ stderr: string; code: number }> {
  try {
    const { stderr } = await run(process.execPath, ['--import', 'tsx', OPS_CLI, ...args], { cwd: ROOT });
    return { stderr, code: 0 };
  } catch (error) {
    const failed = error as { stderr: string; code: number };
    return { stderr: failed.stderr, code: failed.code };
  }
}

describe('kiosk-ops serve refuses to start with one line and an exit code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-serve-'));
  const keyFile = join(dir, 'ops.key');
  const passwords = join(dir, 'operators');
  writeFileSync(keyFile, ops.privateKeyPem, { mode: 0o600 });
  writeFileSync(passwords, `${hashPassword('alice', PASSWORD)}\n`, { mode: 0o600 });

  it('a missing or malformed password file (1), an unreachable broker (3)', async () => {
    const port = await freePort();
    const base = ['serve', '--key', keyFile, '--port', '0', '--connect-timeout', '2000'];
    const missing = await kioskOps([...base, '--url', broker.url, '--passwords', join(dir, 'nope')]);
    expect(missing).toMatchObject({
      code: 1,
      stderr: `kiosk-ops: password file ${join(dir, 'nope')} does not exist\n`,
    });
    writeFileSync(join(dir, 'bad'), 'alice:password\n');
    const bad = await kioskOps([...base, '--url', broker.url, '--passwords', join(dir, 'bad')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^kiosk-ops: password file .*line 1 is not name:scrypt\$N\$r\$p\$salt\$hash\n$/,
    );
    const unreachable = await kioskOps([
      ...base,
      '--url',
      `mqtt://127.0.0.1:${port}`,
      '--passwords',
      passwords,
    ]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(
      /^kiosk-ops: cannot reach the broker at mqtt:\/\/127\.0\.0\.1:\d+: .+\n$/,
    );
  });
});

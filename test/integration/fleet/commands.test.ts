import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawPublicKey, signCommand, signEnvelope } from '../../../src/fleet/index.js';
import { EXIT_RESTART_REQUESTED } from '../../../src/main.js';
import { spawnKiosk } from '../../helpers/processes.js';
import type { Envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { startFleetRig, until } from './fleet-rig.js';

interface CommandResult {
  name: string;
  status: string;
  reason?: string;
  data?: Record<string, unknown>;
}

const kioskId = `cmd-${process.pid}`;

describe('signed commands over Mosquitto (issue 7, item 3)', () => {
  let rig: Awaited<ReturnType<typeof startFleetRig>>;
  const seen: Partial<Record<keyof RuntimeEvents, unknown[]>> = {};
  const listen = () => {
    for (const event of ['fleet.lock', 'fleet.restart', 'fleet.purgeSessions'] as const)
      rig.runtime.bus.on('test', event, (payload) => {
        (seen[event] ??= []).push(payload);
      });
  };
  beforeAll(async () => {
    rig = await startFleetRig(kioskId);
    listen();
  });
  afterAll(async () => {
    rig?.runtime.bus.off('test');
    await rig?.stop();
  });

  async function send(message: Envelope): Promise<Envelope<CommandResult>> {
    const from = rig.results.received.length;
    await rig.client.publishAsync(topics.cmd(kioskId), JSON.stringify(message), { qos: 1 });
    const hit = await rig.results.waitFor(
      (received) => (JSON.parse(received.payload) as Envelope).correlationId === message.correlationId,
      10_000,
      from,
    );
    return JSON.parse(hit.payload) as Envelope<CommandResult>;
  }

  it.each([
    ['lock', 'fleet.lock', { locked: true }],
    ['unlock', 'fleet.lock', { locked: false }],
    ['purge-sessions', 'fleet.purgeSessions', undefined],
    ['restart', 'fleet.restart', { restartingInMs: 50 }],
  ] as const)(
    'runs %s once, answers with the correlationId, and refuses its replay',
    async (name, event, data) => {
      const before = seen[event]?.length ?? 0;
      const command = signCommand({ kioskId, name, key: rig.opsKey });
      const answer = await send(command);
      expect(answer.type).toBe('command.result');
      expect(answer.correlationId).toBe(command.correlationId);
      expect(answer.body).toMatchObject({ name, status: 'ok', ...(data ? { data } : {}) });
      const replay = await send(command);
      expect(replay.body).toMatchObject({ name, status: 'refused', reason: 'replayed' });
      await new Promise((done) => setTimeout(done, 150)); // the restart event is deferred past the answer
      expect((seen[event]?.length ?? 0) - before).toBe(1);
    },
  );

  it('remembers the lock across a restart of the kiosk', async () => {
    expect((await send(signCommand({ kioskId, name: 'lock', key: rig.opsKey }))).body.status).toBe('ok');
    await rig.restart();
    listen();
    expect(rig.runtime.fleet.isLocked).toBe(true);
    expect((await send(signCommand({ kioskId, name: 'unlock', key: rig.opsKey }))).body.status).toBe('ok');
    expect(rig.runtime.fleet.isLocked).toBe(false);
  });

  it('sets the log level', async () => {
    const answer = await send(
      signCommand({ kioskId, name: 'set-log-level', args: { level: 'error' }, key: rig.opsKey }),
    );
    expect(answer.body).toMatchObject({ status: 'ok', data: { level: 'error' } });
    const diagnostics = await send(signCommand({ kioskId, name: 'collect-diagnostics', key: rig.opsKey }));
    expect(diagnostics.body.data?.logLevel).toBe('error');
    const bad = await send(
      signCommand({ kioskId, name: 'set-log-level', args: { level: 'loud' }, key: rig.opsKey }),
    );
    expect(bad.body).toMatchObject({ status: 'refused', reason: 'invalid' });
  });

  it('refuses resync-manifest on a kiosk without a pinned registry sealing key (it could not prove the request)', async () => {
    const answer = await send(signCommand({ kioskId, name: 'resync-manifest', key: rig.opsKey }));
    expect(answer.body).toMatchObject({ name: 'resync-manifest', status: 'refused', reason: 'invalid' });
    const asked = await rig.runtime.store
      .read()
      .get<{ n: number }>('SELECT COUNT(*) AS n FROM manifest_resyncs');
    expect(asked?.n).toBe(0);
  });

  it('collects a bounded, PII-free diagnostics bundle', async () => {
    const answer = await send(signCommand({ kioskId, name: 'collect-diagnostics', key: rig.opsKey }));
    expect(answer.body.status).toBe('ok');
    const data = answer.body.data ?? {};
    expect(data).toMatchObject({ kioskId, devices: { scanner: 'ok' }, fleet: { locked: false } });
    const text = JSON.stringify(data);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(16 * 1024);
    // no 12-digit ID numbers, no names: the bundle carries states, counts and versions only
    expect(text).not.toMatch(/\d{12}/);
    expect(Object.keys(data).sort()).toEqual(
      [
        'acceptsNewSessions',
        'devices',
        'fleet',
        'kioskId',
        'logLevel',
        'manifestResync',
        'memoryMb',
        'node',
        'parts',
        'platform',
        'queueDepth',
        'startedAt',
        'uptimeSeconds',
        'version',
      ].sort(),
    );
  });

  it('refuses an expired command without running it', async () => {
    const before = seen['fleet.lock']?.length ?? 0;
    const command = signCommand({
      kioskId,
      name: 'lock',
      key: rig.opsKey,
      now: Date.now() - 120_000,
      expiresInMs: 60_000,
    });
    expect((await send(command)).body).toMatchObject({ status: 'refused', reason: 'expired' });
    expect(seen['fleet.lock']?.length ?? 0).toBe(before);
  });

  it('refuses a re-signed copy with a used nonce, an unknown key, a forged and an unknown command', async () => {
    const before = seen['fleet.lock']?.length ?? 0;
    const first = signCommand({ kioskId, name: 'lock', key: rig.opsKey });
    expect((await send(first)).body.status).toBe('ok');
    const copy = signEnvelope(
      { ...first, id: `${first.id}-copy`, correlationId: 'copy', sig: undefined },
      rig.opsKey,
    );
    expect((await send(copy)).body).toMatchObject({ status: 'refused', reason: 'replayed' });
    const stranger = signCommand({ kioskId, name: 'lock', key: rig.strangerKey });
    expect((await send(stranger)).body).toMatchObject({ status: 'refused', reason: 'unknown-key' });
    const forged = { ...signCommand({ kioskId, name: 'unlock', key: rig.opsKey }) };
    forged.body = { ...forged.body, name: 'purge-sessions' };
    expect((await send(forged)).body).toMatchObject({ status: 'refused', reason: 'bad-signature' });
    const unknown = signCommand({ kioskId, name: 'self-destruct', key: rig.opsKey });
    expect((await send(unknown)).body).toMatchObject({ status: 'refused', reason: 'unknown-command' });
    expect((seen['fleet.lock']?.length ?? 0) - before).toBe(1);
  });

  it('restart stops `kiosk start` cleanly with the status systemd restarts on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-restart-'));
    const id = `restart-${process.pid}`;
    const file = join(dir, 'kiosk.json');
    writeFileSync(
      file,
      JSON.stringify({
        kiosk: { id },
        mqtt: { url: rig.broker.url, protocolVersion: 5, reconnect: { minMs: 100, maxMs: 1000 } },
        dataDir: join(dir, 'data'),
        ui: { port: 0 },
        fleet: { opsPublicKeys: [rawPublicKey(createPublicKey(rig.opsKey)).toString('base64')] },
      }),
    );
    const kiosk = spawnKiosk(['start', '--config', file]);
    await kiosk.waitFor(/kiosk runtime ready/, 30_000);
    const results = rig.results.received.length;
    const watch = rig.client;
    await watch.subscribeAsync(topics.cmdResult(id), { qos: 1 });
    const answered = new Promise<string>((resolve) =>
      watch.on('message', (topic, payload) => {
        if (topic === topics.cmdResult(id)) resolve(payload.toString());
      }),
    );
    await until(async () => /link: connected/.test(kiosk.output()), 15_000);
    const command = signCommand({ kioskId: id, name: 'restart', key: rig.opsKey });
    await watch.publishAsync(topics.cmd(id), JSON.stringify(command), { qos: 1 });
    const answer = JSON.parse(await answered) as Envelope<CommandResult>;
    expect(answer).toMatchObject({
      correlationId: command.correlationId,
      body: { name: 'restart', status: 'ok' },
    });
    const exit = await kiosk.exited;
    expect(exit.code).toBe(EXIT_RESTART_REQUESTED);
    expect(kiosk.output()).toMatch(/restart requested by operations/);
    expect(rig.results.received.length).toBe(results); // another kiosk's answer is not on this kiosk's topic
  });
});

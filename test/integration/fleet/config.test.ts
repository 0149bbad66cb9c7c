import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signConfig, signEnvelope, withPushedSettings } from '../../../src/fleet/index.js';
import { quietLogger } from '../../helpers/logs.js';
import { type Envelope, envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import type { Received } from '../../helpers/mqtt-watch.js';
import { startFleetRig, until } from './fleet-rig.js';

interface ConfigResult {
  version: number;
  configId: string;
  status: string;
  reason?: string;
  detail?: string;
  restartRequired?: string[];
}

const kioskId = `cfg-${process.pid}`;

describe('signed configuration over Mosquitto (issue 7, item 2)', () => {
  let rig: Awaited<ReturnType<typeof startFleetRig>>;
  beforeAll(async () => {
    rig = await startFleetRig(kioskId);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  async function push(topic: string, message: Envelope): Promise<ConfigResult> {
    const from = rig.events.received.length;
    await rig.client.publishAsync(topic, JSON.stringify(message), { qos: 1, retain: true });
    const hit: Received = await rig.events.waitFor(
      (received) => {
        const parsed = JSON.parse(received.payload) as Envelope<ConfigResult>;
        return parsed.type === 'config.result' && parsed.body.configId === message.id;
      },
      10_000,
      from,
    );
    return (JSON.parse(hit.payload) as Envelope<ConfigResult>).body;
  }

  /**
   * Pushes a config the kiosk must refuse without storing anything of it (issue 12: unverified
   * messages leave no rows): the reason is read from the refusal ledger, and no `config.result`
   * for it appears among the events.
   */
  async function pushRefused(topic: string, message: Envelope): Promise<string> {
    const ledger = rig.runtime.fleet.refusals.totals;
    const before = new Map(ledger);
    const from = rig.events.received.length;
    await rig.client.publishAsync(topic, JSON.stringify(message), { qos: 1, retain: true });
    let reason: string | undefined;
    await until(() => {
      reason = [...ledger].find(([key, count]) => count > (before.get(key) ?? 0))?.[0];
      return reason !== undefined;
    });
    const answered = rig.events.received
      .slice(from)
      .some(
        (received) => (JSON.parse(received.payload) as Envelope<ConfigResult>).body.configId === message.id,
      );
    expect(answered).toBe(false);
    return reason ?? '';
  }
  const fleetTopic = topics.fleetConfig();
  const kioskTopic = topics.config(kioskId);

  it('applies a good fleet config and acknowledges it', async () => {
    const message = signConfig({
      version: 1,
      settings: { timeouts: { requestMs: 12_345 } },
      key: rig.opsKey,
    });
    const result = await push(fleetTopic, message);
    expect(result).toMatchObject({ version: 1, status: 'applied' });
    expect(result.restartRequired).toBeUndefined();
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(12_345);
  });

  it('applies a kiosk config over the fleet config and says which settings wait for a restart', async () => {
    const message = signConfig({
      version: 1,
      kioskId,
      settings: { ui: { port: 18_080 }, log: { level: 'fatal' } },
      key: rig.opsKey,
    });
    const result = await push(kioskTopic, message);
    expect(result).toMatchObject({ version: 1, status: 'applied', restartRequired: ['ui.port'] });
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(12_345); // the fleet layer stays
    expect(rig.runtime.fleet.config.log.level).toBe('fatal');
  });

  it('refuses an unsigned config', async () => {
    const message = envelope(
      'config.push',
      'ops',
      { version: 9, settings: {} },
      {
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
      },
    );
    expect(await pushRefused(fleetTopic, message)).toBe('unsigned');
  });

  it('refuses a config signed by a key that is not pinned', async () => {
    const message = signConfig({ version: 9, settings: {}, key: rig.strangerKey });
    expect(await pushRefused(fleetTopic, message)).toBe('unknown-key');
  });

  it('refuses a config altered after signing', async () => {
    const signed = signConfig({ version: 9, settings: { timeouts: { requestMs: 5000 } }, key: rig.opsKey });
    const altered = { ...signed, body: { ...signed.body, settings: { timeouts: { requestMs: 500 } } } };
    expect(await pushRefused(fleetTopic, altered)).toBe('bad-signature');
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(12_345);
  });

  it('refuses an expired config', async () => {
    const message = signConfig({
      version: 9,
      settings: {},
      key: rig.opsKey,
      now: Date.now() - 120_000,
      expiresInMs: 60_000,
    });
    expect(await pushRefused(fleetTopic, message)).toBe('expired');
  });

  it('refuses a config for another kiosk, on its topic or on the fleet topic', async () => {
    const forOther = signConfig({ version: 9, kioskId: 'someone-else', settings: {}, key: rig.opsKey });
    expect(await pushRefused(kioskTopic, forOther)).toBe('other-kiosk');
    const fleetForOther = signConfig({ version: 10, kioskId: 'someone-else', settings: {}, key: rig.opsKey });
    expect(await pushRefused(fleetTopic, fleetForOther)).toBe('other-kiosk');
  });

  it('refuses settings the schema rejects, and pushing the kiosk identity', async () => {
    const bad = signConfig({ version: 2, settings: { timeouts: { requestMs: 'soon' } }, key: rig.opsKey });
    expect(await push(fleetTopic, bad)).toMatchObject({ status: 'refused', reason: 'invalid' });
    const identity = signConfig({ version: 2, settings: { kiosk: { id: 'hijacked' } }, key: rig.opsKey });
    expect(await push(fleetTopic, identity)).toMatchObject({
      status: 'refused',
      reason: 'invalid',
      detail: 'kiosk.id cannot be pushed',
    });
  });

  it('refuses a replayed config and a downgrade, also after a restart (versions are durable)', async () => {
    const v1 = signConfig({ version: 11, settings: { timeouts: { requestMs: 11_000 } }, key: rig.opsKey });
    expect(await push(fleetTopic, v1)).toMatchObject({ status: 'applied' });
    const v2 = signConfig({ version: 12, settings: { timeouts: { requestMs: 12_000 } }, key: rig.opsKey });
    expect(await push(fleetTopic, v2)).toMatchObject({ status: 'applied' });
    expect(await pushRefused(fleetTopic, v1)).toBe('replayed');
    await rig.restart();
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(12_000);
    // what `kiosk start` builds the next runtime from: settings that wait for a restart take effect
    const next = await withPushedSettings(rig.config, quietLogger());
    expect(next.timeouts.requestMs).toBe(12_000);
    expect(next.ui.port).toBe(18_080);
    expect(rig.config.ui.port).toBe(0);
    const downgrade = signConfig({
      version: 5,
      settings: { timeouts: { requestMs: 5000 } },
      key: rig.opsKey,
    });
    expect(await push(fleetTopic, downgrade)).toMatchObject({ status: 'refused', reason: 'not-newer' });
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(12_000);
  });

  it('reverts a config on probation to the last good one when a part goes down', async () => {
    await until(() => rig.runtime.devices.summary().scanner === 'ok');
    const risky = signConfig({ version: 13, settings: { timeouts: { requestMs: 13_000 } }, key: rig.opsKey });
    expect(await push(fleetTopic, risky)).toMatchObject({ status: 'applied' });
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(13_000);
    expect(rig.runtime.fleet.onProbation).toBe(true);
    // the configs pushed above are on probation with it (the kiosk layer's ui.port never runs in
    // this in-process rig, so none passes): the last good one is what the kiosk started with
    const lastGood = rig.runtime.fleet.lastGoodConfig.timeouts.requestMs;
    expect(lastGood).not.toBe(13_000);
    await rig.unplugScanner();
    const rolledBack = await rig.events.waitFor((received) => {
      const parsed = JSON.parse(received.payload) as Envelope<ConfigResult>;
      return parsed.body.configId === risky.id && parsed.body.status === 'rolled-back';
    });
    expect((JSON.parse(rolledBack.payload) as Envelope<ConfigResult>).body).toMatchObject({
      version: 13,
      reason: 'unhealthy',
      detail: 'devices: scanner missing',
    });
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(lastGood);
    expect(rig.runtime.fleet.config.ui.port).toBe(rig.config.ui.port);
    // the rolled-back version is spent: pushing it again is a replay, a new one must be newer
    await rig.replugScanner();
    const resigned = signEnvelope(
      { ...risky, id: 'config-13-again', nonce: 'another-nonce-for-13', sig: undefined },
      rig.opsKey,
    );
    expect(await push(fleetTopic, resigned)).toMatchObject({ status: 'refused', reason: 'not-newer' });
  });

  it('keeps a config when the kiosk stays healthy and connected through the window', async () => {
    await until(() => rig.runtime.devices.summary().scanner === 'ok');
    const rolledBackBefore = rig.runtime.fleet.counts.rolledBack;
    const kept = signConfig({ version: 14, settings: { timeouts: { requestMs: 14_000 } }, key: rig.opsKey });
    expect(await push(fleetTopic, kept)).toMatchObject({ status: 'applied' });
    expect(rig.runtime.fleet.onProbation).toBe(true);
    // healthy and connected for rollbackAfterMs (1500 in this rig): operations are told it is kept
    const keptResult = await rig.events.waitFor((received) => {
      const parsed = JSON.parse(received.payload) as Envelope<ConfigResult>;
      return parsed.body.configId === kept.id && parsed.body.status === 'kept';
    }, 20_000);
    expect((JSON.parse(keptResult.payload) as Envelope<ConfigResult>).body).toMatchObject({ version: 14 });
    expect(rig.runtime.fleet.onProbation).toBe(false);
    expect(rig.runtime.fleet.lastGoodConfig.timeouts.requestMs).toBe(14_000);
    expect(rig.runtime.fleet.config.timeouts.requestMs).toBe(14_000);
    expect(rig.runtime.fleet.counts.rolledBack).toBe(rolledBackBefore);
  });
});

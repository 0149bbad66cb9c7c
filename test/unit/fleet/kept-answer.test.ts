/**
 * A command that commits while the link is down (its answer cannot go out) is redelivered by the
 * broker once the link is back: that copy gets the kept answer, not "refused: replayed". A replay
 * of a command whose answer reached the broker is still refused. The fleet service and the inbound
 * router as the runtime wires them, on a real store file; `publish` stands in for the link.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import {
  FleetService,
  generateOpsKeyPair,
  privateKeyFromPem,
  signCommand,
} from '../../../src/fleet/index.js';
import { InboundRouter } from '../../../src/link/inbound.js';
import type { Envelope } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { Store } from '../../../src/store/index.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';

const KIOSK = 'kiosk-0001';
const ops = generateOpsKeyPair();

describe('the answer of a command that ran while the link was down', () => {
  let store: Store | undefined;
  let fleet: FleetService | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await store?.stop();
  });

  it('is sent for the redelivered copy; a replay after it was delivered is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kept-answer-'));
    const config = parseConfig(
      {
        kiosk: { id: KIOSK },
        mqtt: { url: 'mqtt://127.0.0.1:1' },
        dataDir: dir,
        fleet: { opsPublicKeys: [ops.publicKey] },
      },
      'test',
    );
    const log = quietLogger();
    store = new Store({
      file: join(dir, 'kiosk.sqlite'),
      synchronous: 'NORMAL',
      defaultTopic: 'events',
      log,
    });
    await store.start();
    let linkUp = false;
    const answers: Array<Record<string, unknown>> = [];
    fleet = new FleetService({
      kioskId: KIOSK,
      baseConfig: config,
      store,
      bus: new EventBus<RuntimeEvents>(log),
      log,
      publish: async (_topic, message: Envelope) => {
        if (!linkUp) throw new Error('link is offline');
        answers.push(message.body as Record<string, unknown>);
      },
      health: () => ({ healthy: true }),
      diagnostics: () => ({}),
      setLogLevel: () => undefined,
    });
    await fleet.start();
    const router = new InboundRouter({ kioskId: KIOSK, store, handlers: fleet.inbound, log });
    const command = Buffer.from(
      JSON.stringify(
        signCommand({
          kioskId: KIOSK,
          name: 'collect-diagnostics',
          key: privateKeyFromPem(ops.privateKeyPem),
        }),
      ),
    );
    const keptAnswer = async () =>
      (await store!.read().get<{ answer: string | null }>('SELECT answer FROM inbox'))?.answer ?? null;
    const settled = async (what: string, check: () => Promise<boolean> | boolean) => {
      for (let i = 0; i < 400 && !(await check()); i++) await new Promise((done) => setTimeout(done, 5));
      if (!(await check())) throw new Error(`gave up waiting for ${what}`);
    };

    expect(await router.handle(topics.cmd(KIOSK), command)).toBe('applied'); // the answer fails
    await settled('the failed send', async () => (await keptAnswer()) !== null);
    expect(answers).toEqual([]);
    expect(JSON.parse((await keptAnswer())!)).toMatchObject({ name: 'collect-diagnostics', status: 'ok' });

    linkUp = true; // the broker redelivers the command: it did not run twice, and the answer comes
    expect(await router.handle(topics.cmd(KIOSK), command)).toBe('duplicate');
    await settled(
      'the kept answer sent and cleared',
      async () => answers.length === 1 && !(await keptAnswer()),
    );
    expect(answers[0]).toMatchObject({ name: 'collect-diagnostics', status: 'ok' });
    expect(fleet.counts.commandsRun).toBe(1);

    expect(await router.handle(topics.cmd(KIOSK), command)).toBe('duplicate'); // a replay now
    await settled('the refusal', () => answers.length === 2);
    expect(answers[1]).toMatchObject({ status: 'refused', reason: 'replayed' });
  });
});

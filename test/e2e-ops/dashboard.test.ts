import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SimKiosk } from './sim-kiosk.js';
import {
  type DemoWorld,
  openDashboard,
  OPERATOR,
  type RunningServe,
  screenshot,
  startDemoWorld,
  startServe,
} from './ops-rig.js';

/**
 * The operations dashboard end to end (issue 13, item 4): `kiosk-ops serve` as an operator runs it,
 * fed over MQTT by `kiosk demo` (a real kiosk that pins the demo operations key) and 24 simulated
 * kiosks publishing retained statuses and telemetry in the documented schemas; headless Chromium
 * logs in, reads the fleet table, locks the real kiosk through a signed action, and runs a config
 * rollout that an injected failure aborts, and a software rollout the real kiosk refuses (it has
 * no update repository) from the same form. Screenshots: test-results/screens/ops/.
 */
const DEMO_KIOSK = 'demo-ops';
const SIMULATED = 24;
const simId = (index: number) => `sim-${String(index).padStart(4, '0')}`;

let world: DemoWorld;
let serve: RunningServe;
let dashboard: Awaited<ReturnType<typeof openDashboard>>;
let page: Page;
const sims: SimKiosk[] = [];

beforeAll(async () => {
  world = await startDemoWorld(DEMO_KIOSK);
  for (let index = 1; index <= SIMULATED; index++) {
    const sim = new SimKiosk({
      id: simId(index),
      brokerUrl: world.brokerUrl,
      opsPublicKey: world.opsPublicKey,
      // the canary's second kiosk refuses the rollout's config: the injected failure
      refuseConfig: index === 2,
      offline: index === SIMULATED,
      faulty: index === 7 ? 'devices.printer' : undefined,
      queueDepth: index === 5 ? 17 : 0,
      software: index % 3 === 0 ? '0.1.1' : '0.1.0',
    });
    await sim.start();
    sims.push(sim);
  }
  serve = await startServe(world.brokerUrl, world.opsKeyFile);
  dashboard = await openDashboard(serve.url);
  page = dashboard.page;
}, 180_000);

afterAll(async () => {
  await dashboard?.close();
  await serve?.stop();
  for (const sim of sims) await sim.stop();
  await world?.stop();
});

const row = (id: string) => `#spacer .row[data-kiosk="${id}"]`;

async function login(): Promise<void> {
  await page.fill('#name', OPERATOR.name);
  await page.fill('#password', OPERATOR.password);
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('body[data-view="fleet"]');
}

describe('ops dashboard (kiosk-ops serve) in Chromium', () => {
  it('asks for a login, refuses a wrong password, and the API refuses an action without a session', async () => {
    await page.waitForSelector('body[data-view="login"]');
    await screenshot(page, '00-login');
    await page.fill('#name', OPERATOR.name);
    await page.fill('#password', 'not the password at all');
    await page.click('[data-testid="login-submit"]');
    await page.waitForFunction(() => {
      const doc = (
        globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
      ).document;
      return (doc.querySelector('[data-testid="login-error"]')?.textContent ?? '').length > 0;
    });
    expect(await page.textContent('[data-testid="login-error"]')).toContain('wrong name or password');
    await screenshot(page, '01-login-refused');
    const unauthenticated = await page.evaluate(() =>
      fetch('/api/actions/lock', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kiosks: ['demo-ops'] }),
      }).then((response) => response.status),
    );
    expect(unauthenticated).toBe(401);
  });

  it('shows the fleet table: the real kiosk and the simulated ones, versions, queue, health, offline', async () => {
    await login();
    // every kiosk, with data: the demo kiosk's inventory comes from its telemetry
    await page.waitForSelector(`body[data-kiosks="${SIMULATED + 1}"]`, { timeout: 30_000 });
    await page.waitForSelector(`${row(DEMO_KIOSK)}[data-online="true"]`);
    await page.waitForFunction(
      (selector) => {
        const doc = (
          globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
        ).document;
        return (doc.querySelector(selector)?.textContent ?? '').includes('in-slot');
      },
      `${row(DEMO_KIOSK)} .c-inventory`,
      { timeout: 30_000 },
    );
    expect(await page.textContent(`${row(simId(5))} .c-queue`)).toContain('17');
    // from its telemetry (every 2 s), which may follow the status by a moment
    await page.waitForSelector(`${row(simId(7))} .c-health:has-text("devices.printer: down")`, {
      timeout: 10_000,
    });
    expect(await page.textContent(`${row(simId(3))} .c-software`)).toBe('0.1.1');
    expect(await page.textContent(`${row(DEMO_KIOSK)} .c-service`)).toBe('in service');
    // the table is virtualised: no more row elements than fit the viewport (plus its overscan)
    const rendered = await page.locator('#spacer .row').count();
    expect(rendered).toBeLessThan(SIMULATED + 1);
    expect(await page.locator(row(simId(SIMULATED))).count()).toBe(0);
    await screenshot(page, '02-fleet');

    await page.selectOption('[data-testid="filter"]', 'offline');
    await page.waitForSelector('body[data-shown="1"]');
    // the last row of the fleet: out of view (not rendered) until the filter brings it up
    expect(await page.locator('#spacer .row').first().getAttribute('data-kiosk')).toBe(simId(SIMULATED));
    expect(await page.textContent(`${row(simId(SIMULATED))} .c-online`)).toBe('NO');
    await screenshot(page, '03-filter-offline');
    await page.selectOption('[data-testid="filter"]', 'all');
    await page.fill('[data-testid="search"]', 'printer');
    await page.waitForSelector('body[data-shown="1"]');
    await page.click(row(simId(7)));
    await page.waitForSelector('[data-testid="detail-faults"] li');
    expect(await page.textContent('[data-testid="detail-faults"]')).toContain('device.printer.missing');
    await screenshot(page, '04-search-and-detail-with-faults');
    await page.fill('[data-testid="search"]', '');
  });

  it('locks the real kiosk through a signed action: the kiosk applies it and the table shows it locked', async () => {
    await page.click(row(DEMO_KIOSK));
    await page.waitForSelector(`[data-testid="detail-id"]:text("${DEMO_KIOSK}")`);
    await page.click('[data-testid="action-lock"]');
    // the kiosk's own retained status says locked: the row follows it
    await page.waitForSelector(`${row(DEMO_KIOSK)}[data-locked="true"]`, { timeout: 20_000 });
    expect(await page.textContent(`${row(DEMO_KIOSK)} .c-service`)).toMatch(/^LOCKED/);
    await page.waitForSelector(
      `#activity li[data-kiosk="${DEMO_KIOSK}"][data-action="lock"][data-state="ok"]`,
      {
        timeout: 20_000,
      },
    );
    // the open detail follows the row
    await page.waitForSelector('[data-testid="detail-service"]:text("LOCKED")', { timeout: 10_000 });
    await page.selectOption('[data-testid="filter"]', 'locked');
    await page.waitForSelector('body[data-shown="1"]');
    await screenshot(page, '05-locked');
    await page.selectOption('[data-testid="filter"]', 'all');
    await page.click(row(DEMO_KIOSK));
    await page.click('[data-testid="action-unlock"]');
    await page.waitForSelector(`${row(DEMO_KIOSK)}[data-locked="false"]`, { timeout: 20_000 });
  });

  it('runs a config rollout to the simulated kiosks: an injected failure in the canary aborts it, and it is shown', async () => {
    await page.fill('[data-testid="search"]', 'sim-');
    await page.waitForSelector(`body[data-shown="${SIMULATED}"]`);
    await page.fill('#rollout-canary', `${simId(1)}, ${simId(2)}`);
    await page.fill('#rollout-step', '5');
    await page.fill('#rollout-failures', '0');
    await page.click('[data-testid="rollout-start"]');
    const rollout = '[data-testid="rollouts"] .rollout';
    await page.waitForSelector(`${rollout}[data-state="aborted"]`, { timeout: 30_000 });
    expect(await page.textContent(`${rollout} [data-testid="rollout-reason"]`)).toContain(
      'failure threshold',
    );
    expect(await page.getAttribute(`${rollout} li[data-kiosk="${simId(2)}"]`, 'data-outcome')).toBe(
      'refused',
    );
    expect(await page.getAttribute(`${rollout} li[data-kiosk="${simId(1)}"]`, 'data-outcome')).toBe(
      'applied',
    );
    expect(await page.getAttribute(`${rollout} li[data-kiosk="${simId(10)}"]`, 'data-outcome')).toBe(
      'waiting',
    );
    // past the canary nothing was sent: the rollout stopped by itself
    expect(sims[9]?.configsSeen).toEqual([]);
    expect(sims[0]?.configsSeen).toHaveLength(1);
    // the canary kiosk that applied it runs the new version: its row says so
    await page.waitForSelector(`${row(simId(1))} .c-config:text("k1")`, { timeout: 10_000 });
    await page.fill('[data-testid="search"]', '');
    await screenshot(page, '06-rollout-aborted');
  });

  it('pauses a running rollout and aborts it from the page; the record says who did it', async () => {
    // kiosks that apply it, and a long soak: the rollout stays running after its canary
    await page.fill('[data-testid="search"]', 'sim-001');
    await page.waitForSelector('body[data-shown="10"]');
    await page.fill('#rollout-canary', simId(10));
    await page.click('[data-testid="rollout-start"]');
    const newest = '[data-testid="rollouts"] .rollout:first-child';
    await page.waitForSelector(`${newest}[data-state="running"]`, { timeout: 10_000 });
    await page.click(`${newest} button:text("Pause")`);
    await page.waitForSelector(`${newest}[data-state="paused"]`, { timeout: 10_000 });
    await screenshot(page, '07-rollout-paused');
    await page.click(`${newest} button:text("Abort")`);
    await page.waitForSelector(`${newest}[data-state="aborted"]`, { timeout: 10_000 });
    expect(await page.textContent(`${newest} [data-testid="rollout-reason"]`)).toContain(
      'aborted by operator',
    );
    // nothing beyond the canary was sent
    expect(sims[10]?.configsSeen).toEqual([]);
    await page.fill('[data-testid="search"]', '');
  });

  it('a rollout running when the dashboard restarts is taken over by the new process and carries on', async () => {
    await page.fill('[data-testid="search"]', 'sim-002');
    await page.waitForSelector('body[data-shown="5"]');
    await page.fill('#rollout-canary', simId(20));
    await page.click('[data-testid="rollout-start"]');
    const newest = '[data-testid="rollouts"] .rollout:first-child';
    await page.waitForSelector(`${newest} li[data-kiosk="${simId(20)}"][data-outcome="applied"]`, {
      timeout: 10_000,
    });
    // the canary soaks (10 s by default): the dashboard stops meanwhile and another one starts
    await page.goto('about:blank');
    await serve.stop(true);
    serve = await startServe(world.brokerUrl, world.opsKeyFile, serve.opsDir);
    await page.goto(serve.url);
    await login();
    await page.waitForSelector(`${newest}[data-state="running"]`, { timeout: 10_000 });
    // the next step goes out from the new process: sim-0021 gets the config
    await expect.poll(() => sims[20]?.configsSeen.length, { timeout: 30_000 }).toBe(1);
    await page.waitForSelector(`${newest} li[data-kiosk="${simId(21)}"]:not([data-outcome="waiting"])`, {
      timeout: 10_000,
    });
    await screenshot(page, '08-rollout-taken-over');
    if ((await page.getAttribute(newest, 'data-state')) === 'running') {
      await page.click(`${newest} button:text("Abort")`);
      await page.waitForSelector(`${newest}[data-state="aborted"]`, { timeout: 10_000 });
    }
  });

  it('rolls out a software release from the page: the real demo kiosk answers the signed order (it has no update repository), and its refusal aborts the rollout', async () => {
    await page.fill('[data-testid="search"]', DEMO_KIOSK);
    await page.waitForSelector('body[data-shown="1"]');
    await page.selectOption('#rollout-kind', 'software');
    await page.fill('#rollout-software', '0.2.0');
    await page.fill('#rollout-canary', DEMO_KIOSK);
    await page.fill('#rollout-failures', '0');
    await page.click('[data-testid="rollout-start"]');
    await page.waitForSelector('#action-result.ok, #action-result.bad');
    expect(await page.textContent('#action-result')).toBe('rollout: sent');
    const newest = '[data-testid="rollouts"] .rollout:first-child';
    await page.waitForSelector(`${newest} .rollout-head:has-text("software 0.2.0")`, { timeout: 10_000 });
    await page.waitForSelector(`${newest}[data-state="aborted"]`, { timeout: 60_000 });
    const kiosk = `${newest} li[data-kiosk="${DEMO_KIOSK}"]`;
    expect(await page.getAttribute(kiosk, 'data-outcome')).toBe('refused');
    expect(await page.textContent(kiosk)).toContain('unreachable: no update.repositoryUrl');
    await screenshot(page, '09-software-rollout-refused');
    await page.selectOption('#rollout-kind', 'config');
    await page.fill('[data-testid="search"]', '');
  });
});

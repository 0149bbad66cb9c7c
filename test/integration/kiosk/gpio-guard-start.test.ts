import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeGpio, KioskGpio, writeFakeSysfs } from '../../../devices/index.js';
import { GpioGuard } from '../../../src/kiosk/gpio-guard.js';
import { Store } from '../../../src/store/index.js';
import { EventBus } from '../../../src/util/bus.js';
import type { RuntimeEvents } from '../../../src/util/events.js';
import { quietLogger } from '../../helpers/logs.js';

/**
 * A tamper switch already tripped when the kiosk starts (opened while it was off, or during a
 * restart) is reported as `fault.tamper`, once per trip across restarts. The guard, the KioskGpio
 * driver and the store are the production ones on a real SQLite file; the lines are the FakeGpio
 * backend, for the reason test/integration/kiosk/gpio.test.ts gives (no gpio-sim here).
 */
const PI4_KERNEL_66 = [{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }];
const TAMPER_BCM = 17;
const TAMPER_LINE = 512 + TAMPER_BCM;

const sysfsRoot = mkdtempSync(join(tmpdir(), 'sysfs-gpio-'));
writeFakeSysfs(sysfsRoot, PI4_KERNEL_66);
const storeFile = join(mkdtempSync(join(tmpdir(), 'gpio-guard-')), 'kiosk.sqlite');
const lines = new FakeGpio();
const running: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

/** One start of the kiosk's GPIO part on the same store file and the same (physical) lines. */
async function startKiosk() {
  const log = quietLogger();
  const store = new Store({
    file: storeFile,
    synchronous: 'FULL',
    defaultTopic: 'cccd/v1/kiosk/t/events',
    log,
  });
  await store.start();
  const gpio = new KioskGpio(
    { inputs: { tamper: { bcm: TAMPER_BCM } }, leds: {}, debounceMs: 5 },
    async () => lines,
    sysfsRoot,
  );
  await gpio.start();
  const guard = new GpioGuard({
    gpio,
    inputs: ['tamper'],
    store,
    bus: new EventBus<RuntimeEvents>(log),
    log,
  });
  await guard.start();
  running.push(async () => {
    await guard.stop();
    await gpio.stop();
    await store.stop();
  });
  return { store, guard };
}

async function tamperFaults(store: Store): Promise<number> {
  return (await store.outboxPage(0, 1000)).filter((row) => row.type === 'fault.tamper').length;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('tamper switch tripped before the kiosk started', () => {
  it('is reported once at start, not again after a restart while still tripped, and again for a new trip', async () => {
    lines.set(TAMPER_LINE, 1); // opened while the kiosk was off
    let kiosk = await startKiosk();
    expect(kiosk.guard.states()).toEqual({ tamper: 'missing' });
    expect(await tamperFaults(kiosk.store)).toBe(1);

    for (const stop of running.splice(0)) await stop(); // restart, still tripped
    kiosk = await startKiosk();
    expect(await tamperFaults(kiosk.store)).toBe(1);

    lines.set(TAMPER_LINE, 0); // staff close it: the kiosk sees the clear
    await until(async () => kiosk.guard.states().tamper === 'ok', 'the clear');
    await until(
      async () =>
        (await kiosk.store
          .read()
          .get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit WHERE action = 'gpio.tamper-cleared'`))!.n ===
        1,
      'the clear audited',
    );
    for (const stop of running.splice(0)) await stop();
    lines.set(TAMPER_LINE, 1); // opened again while the kiosk was off
    kiosk = await startKiosk();
    expect(await tamperFaults(kiosk.store)).toBe(2);
  });

  it('is not reported when the switch is closed at start', async () => {
    lines.set(TAMPER_LINE, 0);
    const kiosk = await startKiosk();
    const before = await tamperFaults(kiosk.store);
    expect(kiosk.guard.states()).toEqual({ tamper: 'ok' });
    for (const stop of running.splice(0)) await stop();
    const again = await startKiosk();
    expect(await tamperFaults(again.store)).toBe(before);
  });
});

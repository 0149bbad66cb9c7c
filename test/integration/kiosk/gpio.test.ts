import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGpio, type GpioLine, writeFakeSysfs } from '../../../devices/index.js';
import { DEMO_CITIZENS } from '../../../src/demo/citizens.js';
import { KIOSK_ID, type PickupWorld, startPickupWorld, until } from './pickup-world.js';

/**
 * Issue 11 "What it must show" 3: the GPIO parts used by the real session orchestrator, with the
 * drivers over ptys to the emulators, the real store and link (as pickup.test.ts).
 *
 * GPIO LINES — WHY NOT REAL KERNEL LINES HERE: onoff drives /sys/class/gpio; real kernel lines
 * without a Raspberry Pi need the gpio-sim (configfs) or gpio-mockup module. This sandbox has
 * neither a /sys/class/gpio, nor configfs at /sys/kernel/config, nor modprobe or /lib/modules
 * (checked below and logged), so the lines are the FakeGpio backend behind the same KioskGpio
 * driver, and the BCM → kernel line mapping reads a fake sysfs tree of a Pi 4 on kernel 6.6
 * (gpiochip512). Everything above the line backend is the production path.
 */
const PI4_KERNEL_66 = [{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }];
const BCM = { tamper: 17, serviceDoor: 27, doorLock: 22, finger: 5, card: 6 } as const;
const line = (bcm: number) => 512 + bcm;
const MAI = DEMO_CITIZENS[0]!;

function kernelGpioSimReason(): string | undefined {
  if (existsSync('/sys/kernel/config/gpio-sim')) return undefined;
  const missing = [
    !existsSync('/sys/class/gpio') && 'no /sys/class/gpio',
    !existsSync('/sys/kernel/config') && 'no configfs at /sys/kernel/config',
    !existsSync('/lib/modules') && 'no kernel modules (/lib/modules) to load gpio-sim or gpio-mockup',
  ].filter(Boolean);
  return `gpio-sim/gpio-mockup cannot be used on this machine (${missing.join(', ') || 'gpio-sim not loaded'})`;
}

/** FakeGpio that remembers every write to an output line (the door lock relay, the LEDs). */
class RecordingGpio extends FakeGpio {
  readonly writes: Array<[number, number]> = [];
  override output(lineNumber: number, initial: number): GpioLine {
    const inner = super.output(lineNumber, initial);
    return {
      ...inner,
      write: async (value) => {
        this.writes.push([lineNumber, value]);
        await inner.write(value);
      },
    };
  }
  /** A contact that bounces before it settles at `value` (the debouncer sees one change). */
  bounceTo(lineNumber: number, value: number): void {
    for (const level of [value, 1 - value, value, 1 - value, value]) this.set(lineNumber, level);
  }
}

let world: PickupWorld;
const gpio = new RecordingGpio();

beforeAll(async () => {
  const reason = kernelGpioSimReason();
  // said, not silent: the test log names why the lines are not real kernel lines
  if (reason) process.stdout.write(`gpio test: ${reason}; using FakeGpio lines + a fake sysfs tree\n`);
  const sysfsRoot = mkdtempSync(join(tmpdir(), 'sysfs-gpio-'));
  writeFakeSysfs(sysfsRoot, PI4_KERNEL_66);
  world = await startPickupWorld({
    configure: (input) => {
      input.devices = {
        ...input.devices,
        gpio: {
          sysfsRoot,
          debounceMs: 10,
          inputs: { tamper: { bcm: BCM.tamper }, serviceDoor: { bcm: BCM.serviceDoor } },
          doorLock: { bcm: BCM.doorLock },
          leds: { finger: BCM.finger, card: BCM.card },
        },
      };
    },
    extras: { gpioBackend: async () => gpio },
  });
}, 90_000);
afterAll(async () => {
  await world?.stop();
});

const sessions = () => world.runtime.sessions;

async function phase(expected: string, timeoutMs = 20_000): Promise<void> {
  await until(() => sessions().phase === expected, timeoutMs, `phase ${expected} (now ${sessions().phase})`);
}

async function events(type: string) {
  await until(async () => world.runtime.store.queueDepth === 0, 15_000, 'outbox drained');
  await world.rig.registry.settled();
  return (await world.rig.registry.events(KIOSK_ID)).filter((event) => event.type === type);
}

describe('GPIO in the citizen sessions', () => {
  it('vault load unlocked the service door for the load and locked it after', () => {
    const lock = gpio.writes.filter(([written]) => written === line(BCM.doorLock)).map(([, value]) => value);
    expect(lock).toEqual([1, 0]); // energised (unlocked) for the load, released (locked) after
    expect(gpio.value(line(BCM.doorLock))).toBe(0);
  });

  it('tamper during take-card: card to the bin, out of service at once, fault.tamper exactly once', async () => {
    await world.rig.citizenControl('finger', [MAI.record.idNumber]);
    const capturedBefore = world.rig.dispenser.captured;
    sessions().handle({ type: 'start', flow: 'pickup' });
    sessions().handle({ type: 'enter-id', idNumber: MAI.record.idNumber });
    await phase('finger');
    await until(() => gpio.value(line(BCM.finger)) === 1, 5000, 'finger LED on');
    await phase('take-card');
    await until(() => gpio.value(line(BCM.card)) === 1, 5000, 'card LED on');
    expect(gpio.value(line(BCM.finger))).toBe(0);

    gpio.bounceTo(line(BCM.tamper), 1);
    await phase('out-of-service');
    await until(
      async () => (await world.runtime.vault.card(MAI.pickupId))?.state === 'captured',
      15_000,
      'captured',
    );
    expect(world.rig.dispenser.captured).toBe(capturedBefore + 1);
    expect(world.rig.dispenser.mechanicsState).toBe(0);
    expect(gpio.value(line(BCM.card))).toBe(0);
    expect(await events('fault.tamper')).toHaveLength(1);
    expect(await events('pickup.completed')).toHaveLength(0);
    const retracted = (await events('pickup.retracted')).filter(
      (event) => (event.body as { pickupId: string }).pickupId === MAI.pickupId,
    );
    expect(retracted).toHaveLength(1);
    // still tripped: no session starts
    sessions().handle({ type: 'start', flow: 'pickup' });
    expect(sessions().phase).toBe('out-of-service');
    expect(sessions().current().outOfService?.devices).toContain('tamper');

    gpio.bounceTo(line(BCM.tamper), 0);
    await phase('attract');
    expect(await events('fault.tamper')).toHaveLength(1); // clearing it sends nothing
  });

  it('an open service door keeps the kiosk out of service: no session starts until it closes', async () => {
    const ANH = DEMO_CITIZENS[1]!;
    await world.rig.citizenControl('finger', [ANH.record.idNumber]);
    gpio.bounceTo(line(BCM.serviceDoor), 1);
    await phase('out-of-service');
    sessions().handle({ type: 'start', flow: 'pickup' });
    sessions().handle({ type: 'enter-id', idNumber: ANH.record.idNumber });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the inputs had their chance to act
    expect(sessions().phase).toBe('out-of-service');
    expect(sessions().current().outOfService?.devices).toContain('serviceDoor');
    expect(world.rig.dispenser.mechanicsState).toBe(0);
    expect(await world.runtime.vault.card(ANH.pickupId)).toEqual({ state: 'in-slot', slot: 1 });

    gpio.bounceTo(line(BCM.serviceDoor), 0);
    await phase('attract');
    sessions().handle({ type: 'start', flow: 'pickup' });
    sessions().handle({ type: 'enter-id', idNumber: ANH.record.idNumber });
    await phase('finger');
    sessions().handle({ type: 'cancel' });
    await phase('attract');
  });
});

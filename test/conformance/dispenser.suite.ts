/**
 * Conformance suite of the dispenser controller (devices/dispenser/PROTOCOL.md), parameterised by
 * the board under test (STYLE.md practice 2). The Node emulator runs it in
 * test/integration/devices/dispenser.test.ts; the firmware (issue 8) runs the same suite against
 * the AVR firmware in simavr by passing a factory whose `path` is the simulated UART's pty.
 *
 * The board's physical world (cards in the vault, a hand taking the card, a jam) is driven
 * through the rig's hooks; the driver under test only ever sees the wire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceDisconnected, DeviceFault, DeviceTimeout, JohnnyFiveDispenser } from '../../devices/index.js';
import { until } from '../helpers/device-rig.js';

export interface DispenserBoardRig {
  /** the host's end of the board's UART (a pty path) */
  path: string;
  /** put cards into these vault slots */
  loadCards(slots: number[]): void;
  /** a citizen takes the card lying in the tray */
  takeCard(): void;
  /** make the next move fail this way */
  injectFault(fault: 'jam' | 'motor-timeout'): void;
  /** the board resets (watchdog, brown-out) while the cable stays plugged in */
  reset(): Promise<void>;
  /** stop answering entirely (board hung / powered off but cable still there) */
  powerOff(): Promise<void>;
  /** pull the cable: the pty pair disappears */
  unplug(): Promise<void>;
  /** plug the cable back in at the same path and power the board */
  replug(): Promise<void>;
  close(): Promise<void>;
}

export function dispenserConformance(name: string, makeRig: () => Promise<DispenserBoardRig>): void {
  describe(`dispenser conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function connect() {
      const rig = await makeRig();
      const dispenser = new JohnnyFiveDispenser({ path: rig.path, baudRate: 57600, retryMs: 100 });
      await dispenser.start();
      cleanups.push(async () => {
        await dispenser.stop();
        await rig.close();
      });
      await until(() => dispenser.health === 'ok', 10_000);
      return { rig, dispenser };
    }

    it('completes a pickup: slot → station → tray, card taken, tray sensor follows', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([5]);
      const tray: string[] = [];
      dispenser.on('tray', (state) => tray.push(state));
      let taken = 0;
      dispenser.on('taken', () => taken++);
      expect(await dispenser.status()).toBe('idle');
      await dispenser.moveToStation(5);
      expect(await dispenser.status()).toBe('atStation');
      await dispenser.present();
      await until(() => dispenser.trayOccupied === true);
      rig.takeCard();
      await until(() => taken === 1 && dispenser.trayOccupied === false);
      expect(tray.slice(-2)).toEqual(['occupied', 'empty']);
      expect(await dispenser.status()).toBe('idle');
    });

    it('retracts an untaken card to the capture bin and returns a card to its slot', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([1, 2]);
      await dispenser.moveToStation(1);
      await dispenser.present();
      await dispenser.retract();
      expect(await dispenser.status()).toBe('idle');
      await dispenser.moveToStation(2);
      await dispenser.returnToSlot(2);
      expect(await dispenser.status()).toBe('idle');
    });

    it('answers refused commands with FAULT codes the driver names', async () => {
      const { dispenser } = await connect();
      await expect(dispenser.moveToStation(9)).rejects.toMatchObject({ fault: 'noCard' });
      await expect(dispenser.present()).rejects.toMatchObject({ fault: 'notAllowed' });
      const error = await dispenser.retract().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeviceFault);
    });

    it('an empty vault slot: noCard from the station sensor, idle after; returned cards are found again', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([3]);
      // PROTOCOL.md FAULT 5: the move is accepted and reaches the station, where no card sits
      await expect(dispenser.moveToStation(12)).rejects.toMatchObject({ fault: 'noCard' });
      expect(await dispenser.status()).toBe('idle');
      await dispenser.moveToStation(3);
      await dispenser.returnToSlot(12);
      await expect(dispenser.moveToStation(3)).rejects.toMatchObject({ fault: 'noCard' });
      await dispenser.moveToStation(12);
      expect(await dispenser.status()).toBe('atStation');
    });

    it('jam and motor timeout: the move faults, the mechanics stay faulted until retract', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([4, 6]);
      rig.injectFault('jam');
      await expect(dispenser.moveToStation(4)).rejects.toMatchObject({ fault: 'jam' });
      expect(await dispenser.status()).toBe('fault');
      await dispenser.retract();
      rig.injectFault('motor-timeout');
      await expect(dispenser.moveToStation(6)).rejects.toMatchObject({ fault: 'motorTimeout' });
      expect(await dispenser.status()).toBe('fault');
      await dispenser.retract();
      expect(await dispenser.status()).toBe('idle');
    });

    it('a reset with a card at the station: the board boots reporting it (D9), and it can go back', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([8]);
      await dispenser.moveToStation(8);
      const boots: Array<{ tray: boolean; station: boolean; atStop: boolean }> = [];
      dispenser.on('boot', (sensors) => boots.push(sensors));
      await rig.reset();
      await until(() => boots.length === 1, 10_000);
      expect(boots[0]).toEqual({ tray: false, station: true, atStop: true });
      expect(await dispenser.sensors()).toEqual({ tray: false, station: true, atStop: true });
      expect(await dispenser.status()).toBe('atStation'); // not "idle" with a card at the station
      await dispenser.returnToSlot(8);
      expect(await dispenser.sensors()).toEqual({ tray: false, station: false, atStop: true });
    });

    it('a reset with a card in the tray, and one mid-move: the sensors tell what the board knows', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([9]);
      await dispenser.moveToStation(9);
      await dispenser.present();
      const boots: Array<{ tray: boolean; station: boolean; atStop: boolean }> = [];
      dispenser.on('boot', (sensors) => boots.push(sensors));
      await rig.reset();
      await until(() => boots.length === 1, 10_000);
      expect(boots[0]).toEqual({ tray: true, station: false, atStop: true });
      expect(await dispenser.status()).toBe('inTray');
      await dispenser.retract();
      rig.loadCards([10]);
      const moving = dispenser.moveToStation(10).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await rig.reset();
      // the command in flight is never answered: the boot report ends it
      expect(await moving).toMatchObject({ fault: 'reset' });
      await until(() => boots.length === 2, 10_000);
      // the card is between two stops: no sensor sees it, the board says idle (PROTOCOL.md "Boot")
      expect(boots[1]).toEqual({ tray: false, station: false, atStop: false });
      expect(await dispenser.status()).toBe('idle');
    });

    it('times out when the board stops answering', async () => {
      const { rig, dispenser } = await connect();
      await rig.powerOff();
      await expect(dispenser.status({ acceptMs: 300 })).rejects.toBeInstanceOf(DeviceTimeout);
    });

    it('unplugged mid-move: DeviceDisconnected, missing, and ok again after replug', async () => {
      const { rig, dispenser } = await connect();
      rig.loadCards([7]);
      const moving = dispenser.moveToStation(7).catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await rig.unplug();
      expect(await moving).toBeInstanceOf(DeviceDisconnected);
      await until(() => dispenser.health === 'missing');
      await expect(dispenser.status()).rejects.toBeInstanceOf(DeviceDisconnected);
      await rig.replug();
      await until(() => dispenser.health === 'ok', 10_000);
      // the move was cut by the power loss: the board reports it faulted (or, after a reset, idle)
      const after = await dispenser.status();
      expect(['fault', 'idle']).toContain(after);
      if (after === 'fault') await dispenser.retract();
      expect(await dispenser.status()).toBe('idle');
    });
  });
}

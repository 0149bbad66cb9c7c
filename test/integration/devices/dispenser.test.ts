import { DispenserEmulator } from '../../../devices/index.js';
import { type DispenserBoardRig, dispenserConformance } from '../../conformance/dispenser.suite.js';
import { pluggablePty } from '../../helpers/device-rig.js';

dispenserConformance('Node Firmata emulator over a pty', async (): Promise<DispenserBoardRig> => {
  const pty = await pluggablePty('dispenser');
  const emulator = new DispenserEmulator({ path: pty.emulatorPath });
  await emulator.start();
  return {
    path: pty.devicePath,
    loadCards: (slots) => emulator.loadCards(slots),
    takeCard: () => void emulator.takeCard(),
    injectFault: (fault) => emulator.injectFault(fault),
    reset: async () => emulator.reset(),
    powerOff: () => emulator.stop(),
    unplug: async () => {
      await emulator.stop();
      await pty.unplug();
    },
    replug: async () => {
      await pty.replug();
      await emulator.start();
    },
    close: async () => {
      await emulator.stop();
      await pty.close();
    },
  };
});

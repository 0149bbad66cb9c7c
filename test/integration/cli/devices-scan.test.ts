import { afterEach, describe, expect, it } from 'vitest';
import { DispenserEmulator, FingerprintEmulator, PrinterEmulator } from '../../../devices/index.js';
import { pluggablePty } from '../../helpers/device-rig.js';
import { spawnKiosk } from '../../helpers/processes.js';

describe('kiosk devices scan', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('identifies which device answers on which port (and none on a silent one)', async () => {
    const ptys = {
      fingerprint: await pluggablePty('fp'),
      printer: await pluggablePty('pr'),
      dispenser: await pluggablePty('di'),
      silent: await pluggablePty('silent'),
    };
    const emulators = [
      new FingerprintEmulator({ path: ptys.fingerprint.emulatorPath }),
      new PrinterEmulator({ path: ptys.printer.emulatorPath }),
      new DispenserEmulator({ path: ptys.dispenser.emulatorPath }),
    ];
    for (const emulator of emulators) await emulator.start();
    cleanups.push(async () => {
      for (const emulator of emulators) await emulator.stop();
      for (const pty of Object.values(ptys)) await pty.close();
    });
    const paths = Object.values(ptys).map((pty) => pty.devicePath);
    const run = spawnKiosk(['devices', 'scan', '--path', ...paths]);
    const { code } = await run.exited;
    const output = run.output();
    expect(code).toBe(0);
    expect(output).toContain(`${ptys.fingerprint.devicePath}: fingerprint`);
    expect(output).toContain(`${ptys.printer.devicePath}: printer`);
    expect(output).toContain(`${ptys.dispenser.devicePath}: dispenser`);
    expect(output).toContain(`${ptys.silent.devicePath}: no known device answers`);
  });
});

import { join } from 'node:path';
import { rigDemoControl } from '../../src/demo/panel.js';
import type { DemoCommand } from '../../src/ui/demo-control.js';
import { type Spawned, startDemoProcess } from '../helpers/processes.js';
import { type KioskBrowser, openKioskBrowser } from './browser.js';

export interface RunningDemo {
  demo: Spawned;
  dataDir: string;
  uiUrl: string;
  browser: KioskBrowser;
  /** the rig's hands, straight to its control socket (what the demo panel's buttons do) */
  rig(command: DemoCommand): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `kiosk demo` as a newcomer runs it (broker, registry and emulators in the rig process, the
 * kiosk with its UI server), and headless Chromium on its page.
 */
export async function startDemoInBrowser(
  kioskId = 'demo-e2e',
  extraArgs: string[] = [],
): Promise<RunningDemo> {
  const { demo, dataDir, uiUrl, stop } = await startDemoProcess({
    kioskId,
    prefix: 'kiosk-e2e-',
    extraArgs,
    env: { KIOSK_LOG_LEVEL: 'warn' },
    vaultLoaded: true, // the demo loads its vault a few seconds after "ready"
  });
  const browser = await openKioskBrowser(`${uiUrl}/`, { demoPanel: true });
  const control = rigDemoControl(join(dataDir, 'rig', 'rig.sock'));
  return {
    demo,
    dataDir,
    uiUrl,
    browser,
    rig: (command) => control.run(command),
    stop: async () => {
      try {
        await browser.close();
      } finally {
        await stop();
      }
    },
  };
}

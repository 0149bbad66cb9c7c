import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rigDemoControl } from '../../src/demo/panel.js';
import type { DemoCommand } from '../../src/ui/demo-control.js';
import { processesMatching, type Spawned, spawnKiosk } from '../helpers/processes.js';
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
  const dataDir = mkdtempSync(join(tmpdir(), 'kiosk-e2e-'));
  const demo = spawnKiosk(
    [
      'demo',
      '--data-dir',
      dataDir,
      '--ui-port',
      '0',
      '--broker-port',
      '0',
      '--kiosk-id',
      kioskId,
      ...extraArgs,
    ],
    { KIOSK_LOG_LEVEL: 'warn' },
  );
  let uiUrl: string;
  try {
    [, uiUrl = ''] = await demo.waitFor(/demo ready: (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
    // The demo loads its vault (the dispenser and the chip station busy) a few seconds after
    // "ready": a citizen starts once it has.
    await demo.waitFor(/demo: vault loaded/, 30_000);
  } catch (error) {
    demo.child.kill('SIGKILL');
    throw error;
  }
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
        demo.child.kill('SIGINT');
        await demo.exited;
        for (const pid of await processesMatching(dataDir)) process.kill(pid, 'SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

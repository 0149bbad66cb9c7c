/**
 * Loads the demo (src/demo) at run time. The demo, its citizens and its test PKI are not shipped:
 * `npm run build` leaves src/demo out of dist, and no module of the runtime imports it statically
 * (a static import would pull it back into the build). From a checkout (`npm start`, `npm run
 * kiosk -- demo`) the TypeScript source is there and loads; from an installed kiosk it is not, and
 * the error says so.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CardTransport } from '../card/transport.js';

export interface DemoRunOptions {
  dataDir: string;
  uiPort: number;
  brokerPort: number;
  kioskId: string;
  logLevel: string;
  kiosk?: boolean;
}

/** The demo module's surface as the CLI uses it (test/unit/demo/entry.test.ts checks src/demo fits it). */
export interface DemoEntry {
  runDemo(options: DemoRunOptions): Promise<void>;
  runDemoRigProcess(options: {
    dataDir: string;
    brokerPort: number;
    kioskId?: string;
    brokerUrl?: string;
  }): Promise<void>;
  emulatedCard(): { chip: CardTransport; trustListPem: string };
}

export class DemoUnavailable extends Error {
  override readonly name = 'DemoUnavailable';
  constructor() {
    super(
      'the demo runs from source only (it is not part of the installed kiosk): in a checkout of cccd-kiosk run `npm start`',
    );
  }
}

/** The demo entry when this `kiosk` runs from source; otherwise DemoUnavailable. */
export async function loadDemo(): Promise<DemoEntry> {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`../demo/index.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!existsSync(fileURLToPath(entry))) throw new DemoUnavailable();
  return (await import(entry.href)) as DemoEntry;
}

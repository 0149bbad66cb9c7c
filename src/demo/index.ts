/**
 * What the `kiosk` CLI may use of the demo (src/cli/demo-loader.ts loads it at run time, from
 * source only: `npm run build` leaves src/demo out of dist).
 */
import { buildChipImage, ChipEmulator } from '../../devices/index.js';
import { TRAN_THI_MAI } from './sample-record.js';
import { createTestPki } from './test-pki.js';

export { runDemo, type DemoOptions } from './demo.js';
export { runDemoRigProcess } from './rig.js';

/** `kiosk card read --emulate`: a chip of a fabricated citizen, signed by a throw-away test PKI. */
export function emulatedCard(): { chip: ChipEmulator; trustListPem: string } {
  const pki = createTestPki();
  return {
    chip: new ChipEmulator(buildChipImage({ record: TRAN_THI_MAI, pki })),
    trustListPem: pki.trustListPem,
  };
}

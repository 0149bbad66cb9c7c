import { z } from 'zod';

/** The emulated devices of the demo rig that the control panel can unplug and replug. */
export const DEMO_DEVICES = ['scanner', 'fingerprint', 'printer', 'dispenser'] as const;

/**
 * What the demo page's control panel can do to the emulated world around the kiosk: the hands of
 * a citizen (finger on the sensor, a code held to the scanner, the card taken from the tray) and
 * a technician's (a cable pulled). Served only by `kiosk demo`, never in production.
 */
export const DemoCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('finger'), finger: z.enum(['citizen', 'other', 'none']) }),
  z.strictObject({ type: z.literal('scan'), text: z.string().min(1).max(512) }),
  z.strictObject({ type: z.literal('take-card') }),
  z.strictObject({ type: z.enum(['unplug', 'replug']), device: z.enum(DEMO_DEVICES) }),
]);
export type DemoCommand = z.infer<typeof DemoCommandSchema>;

/** A code the panel offers to scan, e.g. the demo citizen's pickup QR. */
export interface DemoScanPreset {
  labelVi: string;
  labelEn: string;
  text: string;
}

export interface DemoControl {
  presets(): DemoScanPreset[];
  run(command: DemoCommand): Promise<void>;
}

/** One line of the rig's control socket for a command (see `startRigControl` in src/main.ts). */
export function rigControlLine(command: DemoCommand): string {
  switch (command.type) {
    case 'finger':
      return `finger ${command.finger}\n`;
    case 'scan':
      // the socket is line based: a code is sent as base64 so that any text survives
      return `scan ${Buffer.from(command.text, 'utf8').toString('base64')}\n`;
    case 'take-card':
      return 'take-card\n';
    case 'unplug':
    case 'replug':
      return `${command.type} ${command.device}\n`;
  }
}

/** The rig refused or failed a control command (e.g. "no card in the tray"); the panel shows it. */
export class RigControlError extends Error {
  override readonly name = 'RigControlError';
}

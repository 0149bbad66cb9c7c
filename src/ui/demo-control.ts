import { z } from 'zod';

/** The emulated devices of the demo rig that the control panel can unplug and replug. */
export const DEMO_DEVICES = ['scanner', 'fingerprint', 'printer', 'dispenser'] as const;

/** A pickup id or a scanned code: one token or one line of the rig socket, nothing more. */
const token = z.string().regex(/^[A-Za-z0-9-]{1,32}$/);
const oneLine = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[^\r\n]*$/);

/**
 * What the demo page's control panel can do to the emulated world around the kiosk: the hands of
 * a citizen (a finger on the sensor, a code held to the scanner, the card taken from the tray)
 * and a technician's (a cable pulled). Served only by `kiosk demo`, never in production.
 */
export const DemoCommandSchema = z.discriminatedUnion('type', [
  /** `who`: a demo citizen's pickup id (their finger), `wrong` (someone else's) or `none` (lifted) */
  z.strictObject({ type: z.literal('finger'), who: token }),
  z.strictObject({ type: z.literal('scan'), text: oneLine }),
  z.strictObject({ type: z.literal('take-card') }),
  z.strictObject({ type: z.enum(['unplug', 'replug']), device: z.enum(DEMO_DEVICES) }),
]);
export type DemoCommand = z.infer<typeof DemoCommandSchema>;

/** The rig's answer to `citizens` (src/demo/rig.ts, startDemoRig): fabricated demo data. */
export const DemoCitizensSchema = z.array(
  z.object({ pickupId: z.string(), name: z.string(), qr: z.string() }).loose(),
);

/** A demo citizen as the panel shows them: a name, their finger, their two codes. No ID number. */
export interface DemoPanelCitizen {
  pickupId: string;
  name: string;
  /** the pickup QR's text (the pickup id) */
  pickupCode: string;
  /** the QR on the front of their card (the update flow) */
  cardQr: string;
}

export function panelCitizen(citizen: z.infer<typeof DemoCitizensSchema>[number]): DemoPanelCitizen {
  return { pickupId: citizen.pickupId, name: citizen.name, pickupCode: citizen.pickupId, cardQr: citizen.qr };
}

export interface DemoControl {
  citizens(): Promise<DemoPanelCitizen[]>;
  run(command: DemoCommand): Promise<void>;
  /** the printer emulator's PNG of the last receipt it printed, if any */
  lastReceiptPng?(): Promise<Buffer | undefined>;
}

/** One line of the rig's control socket for a command (see `startRigControl` in src/demo/rig.ts). */
export function rigControlLine(command: DemoCommand): string {
  switch (command.type) {
    case 'finger':
      return `finger ${command.who}\n`;
    case 'scan':
      return `scan ${command.text}\n`;
    case 'take-card':
      return 'take\n';
    case 'unplug':
    case 'replug':
      return `${command.type} ${command.device}\n`;
  }
}

/** The rig refused or failed a control command (e.g. "no card in the tray"); the panel shows it. */
export class RigControlError extends Error {
  override readonly name = 'RigControlError';
}

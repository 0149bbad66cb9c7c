/**
 * Settings of signed software updates (issue 14). Read by `kiosk update` and the update agent;
 * the repository is trusted through its TUF root (in <installRoot>/update/metadata), the
 * transport through the pinned ops CA.
 */
import { z } from 'zod';

export const UPDATE_DEFAULTS = {
  installRoot: '/opt/cccd-kiosk',
  maxBytesPerSecond: 256 * 1024,
  probationMinutes: 10,
  /** 30 s, 2 min, 8 min, then every 30 min: an ordered update outlasts an uplink outage of about 2 h */
  retrySeconds: [30, 120, 480, 1800, 1800, 1800, 1800],
};

export const UpdateSettingsSchema = z
  .strictObject({
    installRoot: z.string().min(1).default(UPDATE_DEFAULTS.installRoot).meta({
      description: 'where releases/<version>, current and update/ live (deploy/install.sh lays them out)',
      restart: true,
    }),
    repositoryUrl: z
      .url({ protocol: /^https$/ })
      .optional()
      .meta({ description: 'HTTPS base URL of the ops TUF repository (kiosk-ops release serve)' }),
    caFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'the ops CA certificate (PEM): the only CA trusted for the repository' }),
    maxBytesPerSecond: z
      .number()
      .int()
      .min(0)
      .default(UPDATE_DEFAULTS.maxBytesPerSecond)
      .meta({ description: 'bandwidth cap of bundle downloads in bytes a second (0: none)' }),
    probationMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .default(UPDATE_DEFAULTS.probationMinutes)
      .meta({
        description: 'a new release must stay healthy and connected this long to be marked good',
      }),
    retrySeconds: z
      .array(
        z
          .number()
          .int()
          .min(1)
          .max(24 * 3600),
      )
      .max(50)
      .default(UPDATE_DEFAULTS.retrySeconds)
      .meta({
        description:
          'waits before each new try of an ordered update whose repository cannot be reached (none: refused at once)',
      }),
  })
  .default(UPDATE_DEFAULTS)
  // read when the kiosk starts (release probation) and by each `kiosk update` run: not live
  .meta({ description: 'signed software updates (TUF) and A/B releases', restart: true });
export type UpdateSettings = z.infer<typeof UpdateSettingsSchema>;

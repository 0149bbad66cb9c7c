/**
 * The one configuration schema of the kiosk runtime. File, environment and (later) configuration
 * pushed by operations all pass through `KioskConfigSchema`; nothing else defines a setting.
 *
 * Every setting is classified (test/unit/config/schema-classes.test.ts checks each leaf): its own
 * `.meta()` or the nearest enclosing one carries `restart: true` (takes effect when the kiosk
 * restarts, which a pushed change triggers at idle: src/runtime/restart.ts) or `restart: false`
 * (live: src/runtime/live-config.ts hands the new value to the part that uses it). The deepest mark
 * on a setting's path wins, so a group can be restart-required while some of its fields are live.
 */
import { z } from 'zod';
import { PrinterProfileIdSchema } from '../../devices/printer/profiles.js';
import { UpdateSettingsSchema } from './update-schema.js';

/** Marks: spread into `.meta()`. `LIVE` settings have an applier in src/runtime/live-config.ts. */
const LIVE = { restart: false } as const;
const RESTART = { restart: true } as const;

export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200] as const;

const baudRate = (fallback: (typeof BAUD_RATES)[number]) =>
  z
    .literal(BAUD_RATES, {
      error: (issue) =>
        `expected one of ${BAUD_RATES[0]}…${BAUD_RATES.at(-1)}, got ${JSON.stringify(issue.input)}`,
    })
    .default(fallback)
    .meta({ description: 'UART speed in baud; live: the device reopens at idle', ...LIVE });

const serialPath = z
  .string()
  .min(1, 'expected a device path such as /dev/ttyUSB0 or /dev/kiosk-scanner')
  .meta({
    description: 'serial device path (a stable udev name is best); live: the device reopens at idle',
    ...LIVE,
  });

const serialDevice = (defaultBaud: (typeof BAUD_RATES)[number]) =>
  z.strictObject({
    path: serialPath,
    baudRate: baudRate(defaultBaud),
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'whether the runtime opens this device', ...RESTART }),
  });

const gpioPin = z.strictObject({
  bcm: z.number().int().min(0).max(27).meta({ description: 'BCM GPIO number on the 40-pin header' }),
  activeLow: z.boolean().default(false),
});

export const DevicesSchema = z
  .strictObject({
    scanner: serialDevice(9600)
      .optional()
      .meta({ description: 'QR / barcode scanner (lines ending in CR)', ...RESTART }),
    fingerprint: serialDevice(57600)
      .optional()
      .meta({ description: 'R30x/ZFM fingerprint sensor', ...RESTART }),
    printer: serialDevice(9600)
      .extend({
        profile: PrinterProfileIdSchema.default('epson-wpc1258').meta({
          description:
            'printer model: code page for Vietnamese (epson-wpc1258, clone-tcvn3, clone-cp1258-uncomposed) or raster-80mm / raster-58mm for any ESC/POS printer',
          ...RESTART,
        }),
      })
      .optional()
      .meta({ description: 'ESC/POS receipt printer', ...RESTART }),
    dispenser: serialDevice(57600)
      .optional()
      .meta({ description: 'card dispenser controller board (Firmata)', ...RESTART }),
    cardReader: z
      .strictObject({
        kind: z
          .literal('pcsc')
          .meta({ description: 'the chip station reader speaks PC/SC (USB CCID through pcscd)' }),
        reader: z
          .string()
          .min(1)
          .optional()
          .meta({ description: 'PC/SC reader name (substring match); absent: the first reader' }),
        pcscdSocket: z.string().min(1).optional().meta({
          description:
            "pcscd's client socket (pcsc-lite's PCSCLITE_CSOCK_NAME); absent: the system's /run/pcscd/pcscd.comm",
        }),
        cardWaitMs: z
          .number()
          .int()
          .positive()
          .max(60_000)
          .default(5000)
          .meta({ description: 'how long a read waits for the reader to see the card at the station' }),
        enabled: z.boolean().default(true),
      })
      .optional()
      .meta({ description: "the chip reader at the dispenser's chip station", ...RESTART }),
    gpio: z
      .strictObject({
        enabled: z.boolean().default(true),
        sysfsRoot: z
          .string()
          .min(1)
          .default('/sys/class/gpio')
          .meta({ description: 'sysfs GPIO class directory', restart: true }),
        debounceMs: z.number().int().min(1).max(1000).default(30),
        inputs: z
          .strictObject({
            serviceDoor: gpioPin.optional(),
            tamper: gpioPin.optional(),
            presence: gpioPin.optional(),
            serviceButton: gpioPin.optional(),
          })
          .default({}),
        doorLock: gpioPin.optional(),
        leds: z.record(z.string(), z.number().int().min(0).max(27)).default({}),
      })
      .optional()
      .meta({
        description:
          'door lock relay, service-door/tamper switches, presence sensor, service button, LEDs (BCM numbers)',
        ...RESTART,
      }),
    probeIntervalMs: z
      .number()
      .int()
      .min(500)
      .default(10_000)
      .meta({
        description: 'how often request/response devices are asked a real question to keep their health true',
        ...LIVE,
      }),
  })
  .default({ probeIntervalMs: 10_000 });

export const TlsSchema = z.strictObject({
  ca: z.string().min(1).meta({ description: 'PEM file of the broker CA' }),
  cert: z.string().min(1).meta({ description: "PEM file of this kiosk's client certificate" }),
  key: z.string().min(1).meta({ description: "PEM file of this kiosk's client key" }),
});

/** Audio guidance (issue 15): espeak-ng speaks each screen's instruction and every result. */
const SPEECH_DEFAULTS = { enabled: true, volume: 100, wordsPerMinute: 150 };
const SpeechSchema = z
  .strictObject({
    enabled: z.boolean().default(SPEECH_DEFAULTS.enabled).meta({
      description:
        'speak each screen and result aloud (EN 301 549 §5.1); off only for a kiosk without speakers',
    }),
    volume: z.number().int().min(0).max(200).default(SPEECH_DEFAULTS.volume).meta({
      description:
        "loudness of the spoken guidance: espeak-ng's amplitude, 0 = silent, 100 = espeak-ng's default, 200 = loudest (may distort)",
    }),
    wordsPerMinute: z
      .number()
      .int()
      .min(80)
      .max(300)
      .default(SPEECH_DEFAULTS.wordsPerMinute)
      .meta({ description: "speaking rate; slower than espeak-ng's 175 so that codes are easy to note" }),
  })
  .default(SPEECH_DEFAULTS)
  .meta({ description: 'audio guidance through espeak-ng, offline, in Vietnamese and English', ...RESTART });

export const KioskConfigSchema = z.strictObject({
  kiosk: z.strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{2,62}$/, 'expected 3–63 lowercase letters, digits or dashes, e.g. "hn-0001"')
      .meta({ description: 'kiosk identity; names its MQTT topics', restart: true }),
    site: z
      .string()
      .max(200)
      .optional()
      .meta({ description: 'where the kiosk stands, for operators and on receipts', ...RESTART }),
  }),
  mqtt: z
    .strictObject({
      url: z
        .string()
        .regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, 'expected a broker URL such as mqtts://broker:8883')
        .meta({ description: 'broker URL', restart: true }),
      protocolVersion: z
        .union([z.literal(4), z.literal(5)])
        .default(5)
        .meta({ description: 'MQTT 3.1.1 (4) or MQTT 5 (5)', restart: true }),
      keepaliveSeconds: z
        .number()
        .int()
        .min(5)
        .max(600)
        .default(30)
        .meta({ description: 'MQTT keepalive; live: the link reconnects with it', ...LIVE }),
      telemetryIntervalMs: z.number().int().min(1000).max(3_600_000).default(60_000).meta({
        description: 'how often the kiosk publishes telemetry (also soon after a change)',
        restart: true,
      }),
      tls: TlsSchema.optional().meta({
        description: 'client certificate and broker CA (mqtts); live: the link reconnects with them',
        ...LIVE,
      }),
      reconnect: z
        .strictObject({
          minMs: z.number().int().min(100).default(1000),
          maxMs: z.number().int().min(1000).default(60_000),
        })
        .default({ minMs: 1000, maxMs: 60_000 })
        .meta({
          description:
            'capped exponential backoff with full jitter between reconnects; live: the next wait uses it',
          ...LIVE,
        }),
    })
    .meta({ description: 'link to the central MQTT broker' }),
  dataDir: z
    .string()
    .min(1)
    .default('./var/kiosk')
    .meta({ description: 'directory of the SQLite store and local state', restart: true }),
  ui: z
    .strictObject({
      host: z
        .enum(['127.0.0.1', '::1', 'localhost'])
        .default('127.0.0.1')
        .meta({ description: 'the touchscreen UI is served on loopback only', restart: true }),
      port: z.number().int().min(0).max(65535).default(8080).meta({ restart: true }),
      hostNames: z
        .array(z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i))
        .max(8)
        .default([])
        .meta({
          description:
            "names the kiosk's own browser may use for the UI besides 127.0.0.1, localhost and [::1] (Host allow-list against DNS rebinding)",
          restart: true,
        }),
      speech: SpeechSchema,
    })
    .meta({ description: 'the touchscreen UI server', ...RESTART })
    .default({ host: '127.0.0.1', port: 8080, hostNames: [], speech: SPEECH_DEFAULTS }),
  devices: DevicesSchema,
  update: UpdateSettingsSchema,
  timeouts: z
    .strictObject({
      sessionIdleMs: z
        .number()
        .int()
        .min(5000)
        .default(60_000)
        .meta({ ...LIVE }),
      fingerAttemptMs: z
        .number()
        .int()
        .min(1000)
        .default(15_000)
        .meta({ ...LIVE }),
      trayTakeMs: z
        .number()
        .int()
        .min(5000)
        .default(30_000)
        .meta({ ...LIVE }),
      requestMs: z
        .number()
        .int()
        .min(500)
        .default(10_000)
        .meta({ description: 'registry requests (link and sessions)', ...LIVE }),
      shutdownMs: z
        .number()
        .int()
        .min(500)
        .max(30_000)
        .default(2500)
        .meta({ description: 'bound of a clean stop (the signal handler is set at start)', ...RESTART }),
    })
    .default({
      sessionIdleMs: 60_000,
      fingerAttemptMs: 15_000,
      trayTakeMs: 30_000,
      requestMs: 10_000,
      shutdownMs: 2500,
    }),
  log: z
    .strictObject({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
        .default('info')
        .meta({ ...LIVE }),
      pretty: z
        .boolean()
        .default(false)
        .meta({ description: 'human-readable lines (demo); JSON otherwise', ...RESTART }),
      sensitive: z
        .boolean()
        .default(false)
        .meta({
          description: 'log payload hex of device traffic (never PII fields); off in production',
          ...RESTART,
        }),
    })
    .default({ level: 'info', pretty: false, sensitive: false }),
  store: z
    .strictObject({
      synchronous: z.enum(['NORMAL', 'FULL', 'EXTRA']).default('FULL').meta({
        description: 'SQLite PRAGMA synchronous; FULL: a committed event survives power loss',
        restart: true,
      }),
      maxSizeMb: z.number().int().min(1).optional().meta({
        description: 'cap on the store file; when reached, new citizen sessions are refused',
        restart: true,
      }),
      outboxWindow: z
        .number()
        .int()
        .min(1)
        .max(65_535)
        .default(512)
        .meta({ description: 'outbox events published and not yet acknowledged at once', ...RESTART }),
      retention: z
        .strictObject({
          inboxMs: z
            .number()
            .int()
            .min(3_600_000)
            .default(30 * 24 * 3600_000)
            .meta({
              description:
                'applied inbound message ids kept this long (replays within a message lifetime are refused by its nonce)',
            }),
          auditMs: z
            .number()
            .int()
            .min(3_600_000)
            .default(90 * 24 * 3600_000)
            .meta({ description: 'audit rows kept this long' }),
          auditMaxRows: z
            .number()
            .int()
            .min(100)
            .default(200_000)
            .meta({ description: 'at most this many audit rows are kept (the oldest go first)' }),
          pruneEveryMs: z
            .number()
            .int()
            .min(1000)
            .default(3_600_000)
            .meta({ description: 'how often retention runs' }),
        })
        .default({
          inboxMs: 30 * 24 * 3600_000,
          auditMs: 90 * 24 * 3600_000,
          auditMaxRows: 200_000,
          pruneEveryMs: 3_600_000,
        })
        .meta({ description: 'retention bounds of inbox, audit and nonces', ...RESTART }),
    })
    .default({
      synchronous: 'FULL',
      outboxWindow: 512,
      retention: {
        inboxMs: 30 * 24 * 3600_000,
        auditMs: 90 * 24 * 3600_000,
        auditMaxRows: 200_000,
        pruneEveryMs: 3_600_000,
      },
    })
    .meta({ description: 'the durable local store (SQLite, WAL)' }),
  fleet: z
    .strictObject({
      opsPublicKeys: z
        .array(
          z
            .string()
            .regex(/^[A-Za-z0-9+/]{43}=$/, 'expected a base64 raw 32-byte Ed25519 public key')
            .meta({ description: 'operations signing key (base64 of the raw 32-byte Ed25519 key)' }),
        )
        .max(16)
        .default([])
        .meta({
          description: 'operations keys pinned at provisioning: only they may sign config and commands',
          restart: true,
        }),
      registrySigningKey: z
        .string()
        .regex(/^[A-Za-z0-9+/]{43}=$/, 'expected a base64 raw 32-byte Ed25519 public key')
        .optional()
        .meta({
          description:
            'the registry key pinned at provisioning (base64 raw Ed25519): only it may sign manifest entries and update statuses',
          restart: true,
        }),
      registrySealingKey: z
        .string()
        .regex(/^[A-Za-z0-9+/]{43}=$/, 'expected a base64 raw 32-byte X25519 public key')
        .optional()
        .meta({
          description:
            'the registry X25519 key pinned at provisioning: pickup secrets must be HPKE-sealed by it, update submissions are sealed to it',
          restart: true,
        }),
      registryKeysFile: z.string().min(1).optional().meta({
        description:
          'a JSON file {"signing", "sealing"} holding the two registry keys above (base64), as provisioning writes it; read at load, inline keys win',
        restart: true,
      }),
      rollbackAfterMs: z
        .number()
        .int()
        .min(1000)
        .max(3_600_000)
        .default(300_000)
        .meta({
          description:
            'probation: a pushed config is kept once the kiosk has been healthy and connected this long without a break (set by the file only: a push cannot loosen its own probation)',
          ...RESTART,
        }),
      probation: z
        .strictObject({
          brokerUnreachableMs: z
            .number()
            .int()
            .min(1000)
            .max(3_600_000)
            .default(120_000)
            .meta({
              description:
                'a config on probation that changes mqtt.* is reverted when the broker stays unreachable this long',
              ...RESTART,
            }),
          partDownMs: z
            .number()
            .int()
            .min(0)
            .max(3_600_000)
            .default(30_000)
            .meta({
              description: 'a config on probation is reverted when a part that was well stays down this long',
              ...RESTART,
            }),
          maxStarts: z
            .number()
            .int()
            .min(1)
            .max(100)
            .default(3)
            .meta({
              description:
                'a config on probation is reverted when the kiosk starts more often than this without passing (a crash loop)',
              ...RESTART,
            }),
        })
        .default({ brokerUnreachableMs: 120_000, partDownMs: 30_000, maxStarts: 3 })
        .meta({
          description:
            'when a pushed config on probation goes back to the last good one (set by the file only)',
          ...RESTART,
        }),
      refusalSummaryMs: z
        .number()
        .int()
        .min(1000)
        .max(3_600_000)
        .default(60_000)
        .meta({
          description: 'refused inbound messages are summarised in one security.refused event per window',
          ...RESTART,
        }),
      refusalRepliesPerWindow: z
        .number()
        .int()
        .min(0)
        .max(10_000)
        .default(60)
        .meta({
          description: 'cmd/result refusals sent per summary window at most; the rest are only counted',
          ...RESTART,
        }),
    })
    .default({
      opsPublicKeys: [],
      rollbackAfterMs: 300_000,
      probation: { brokerUnreachableMs: 120_000, partDownMs: 30_000, maxStarts: 3 },
      refusalSummaryMs: 60_000,
      refusalRepliesPerWindow: 60,
    })
    .meta({ description: 'central operations: signed configuration and commands' }),
  card: z
    .strictObject({
      accessPolicy: z
        .enum(['prefer-pace', 'require-pace'])
        .default('prefer-pace')
        .meta({
          description:
            'prefer-pace: PACE when EF.CardAccess offers it, BAC only when it does not; require-pace: refuse chips without PACE. A failed PACE never becomes BAC.',
          ...LIVE,
        }),
      masterLists: z
        .array(
          z
            .string()
            .max(8_000_000)
            .regex(/^[A-Za-z0-9+/]+=*$/, 'expected base64'),
        )
        .max(8)
        .default([])
        .meta({
          description:
            'ICAO CSCA master lists (base64 of the CMS SignedData), each verified against a CSCA of sessions.trustList before its CSCAs are trusted; operations push them as signed config',
          restart: true,
        }),
      crls: z
        .array(
          z
            .string()
            .max(2_000_000)
            .regex(/^[A-Za-z0-9+/]+=*$/, 'expected base64'),
        )
        .max(64)
        .default([])
        .meta({
          description:
            'CRLs (base64 DER) of trusted CSCAs: a revoked document signer or CSCA fails passive authentication with its reason',
          restart: true,
        }),
    })
    .default({ accessPolicy: 'prefer-pace', masterLists: [], crls: [] })
    .meta({ description: 'chip access and trust list (ICAO 9303 parts 11 and 12; src/card)' }),
  sessions: z
    .strictObject({
      trustList: z.string().min(1).optional().meta({
        description:
          'PEM bundle of the CSCA certificates passive authentication trusts (required for pickups)',
        restart: true,
      }),
      fingerAttempts: z
        .number()
        .int()
        .min(1)
        .max(10)
        .default(3)
        .meta({
          description: 'finger attempts in one session before the citizen is referred to staff',
          ...LIVE,
        }),
      fingerLockAfter: z
        .number()
        .int()
        .min(1)
        .max(50)
        .default(5)
        .meta({
          description:
            'failed fingers of one pickup, over all its sessions and restarts, after which it is locked until staff release it',
          ...LIVE,
        }),
      identifyRateLimit: z
        .strictObject({
          attempts: z.number().int().min(1).max(1000).default(10),
          windowMs: z.number().int().min(1000).max(3_600_000).default(60_000),
        })
        .default({ attempts: 10, windowMs: 60_000 })
        .meta({
          description: 'identification attempts (typed IDs, scanned codes) per window, per kiosk',
          ...LIVE,
        }),
      resultMs: z
        .number()
        .int()
        .min(2000)
        .default(15_000)
        .meta({
          description: 'how long receipt, referral and status screens stay before the attract screen',
          ...LIVE,
        }),
    })
    .default({
      fingerAttempts: 3,
      fingerLockAfter: 5,
      identifyRateLimit: { attempts: 10, windowMs: 60_000 },
      resultMs: 15_000,
    })
    .meta({ description: 'citizen sessions: card pickup and data update (src/kiosk)' }),
});

export type KioskConfig = z.infer<typeof KioskConfigSchema>;
export type KioskConfigInput = z.input<typeof KioskConfigSchema>;
export type DevicesConfig = z.infer<typeof DevicesSchema>;
export type SerialDeviceConfig = NonNullable<DevicesConfig['scanner']>;

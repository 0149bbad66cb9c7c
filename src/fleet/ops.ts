/**
 * The operations side of signed messages: builds and signs `config.push` and `command.request`
 * envelopes. Used by `kiosk-ops`, and by tests and the fleet bench as the operations centre.
 */
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { type Envelope, envelope, type MessageBody, WHOLE_FLEET } from '../link/messages.js';
import { signEnvelope } from './signing.js';

/** The `from` of messages signed by operations. */
export const OPS_SENDER = 'ops';

/**
 * The commands a kiosk runs (FleetService's table of commands). `kiosk-ops` refuses any other name
 * before signing, since a kiosk would only refuse it as `unknown-command`.
 */
export const KIOSK_COMMANDS = [
  'lock',
  'unlock',
  'restart',
  'purge-sessions',
  'resync-manifest',
  'collect-diagnostics',
  'set-log-level',
  'reassert-state',
  /** issue 14: stage a signed release (args.version) and switch to it at idle */
  'update-software',
] as const;
export type KioskCommandName = (typeof KIOSK_COMMANDS)[number];

export function isKioskCommand(name: string): name is KioskCommandName {
  return (KIOSK_COMMANDS as readonly string[]).includes(name);
}

export interface SignConfigOptions {
  version: number;
  settings: Record<string, unknown>;
  /** the one kiosk this config is for; absent for the fleet (`to: '*'`, on `fleet/config` only) */
  kioskId?: string;
  /** how long the config may still be applied (default 7 days: a kiosk may be offline a while) */
  expiresInMs?: number;
  key: KeyObject;
  now?: number;
}

export function signConfig(options: SignConfigOptions): Envelope<MessageBody<'config.push'>> {
  const now = options.now ?? Date.now();
  const body: MessageBody<'config.push'> = {
    version: options.version,
    settings: options.settings,
    ...(options.kioskId ? { kioskId: options.kioskId } : {}),
  };
  return signEnvelope(
    envelope('config.push', OPS_SENDER, body, {
      ts: new Date(now).toISOString(),
      expiresAt: new Date(now + (options.expiresInMs ?? 7 * 24 * 3600_000)).toISOString(),
      to: options.kioskId ?? WHOLE_FLEET,
      nonce: randomBytes(16).toString('base64url'),
    }),
    options.key,
  );
}

export interface SignCommandOptions {
  name: string;
  /** the kiosk (or explicit list of kiosks) the command is for: every other kiosk refuses it */
  kioskId: string | string[];
  args?: Record<string, string | number | boolean>;
  /** default 5 minutes */
  expiresInMs?: number;
  key: KeyObject;
  correlationId?: string;
  now?: number;
}

export function signCommand(options: SignCommandOptions): Envelope<MessageBody<'command.request'>> {
  const now = options.now ?? Date.now();
  const nonce = randomBytes(16).toString('hex');
  const body: MessageBody<'command.request'> = {
    name: options.name,
    nonce,
    ...(options.args ? { args: options.args } : {}),
  };
  return signEnvelope(
    envelope('command.request', OPS_SENDER, body, {
      ts: new Date(now).toISOString(),
      expiresAt: new Date(now + (options.expiresInMs ?? 5 * 60_000)).toISOString(),
      correlationId: options.correlationId ?? randomUUID(),
      to: options.kioskId,
      nonce,
    }),
    options.key,
  );
}

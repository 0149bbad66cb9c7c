/**
 * What a rollout carries, one driver per payload kind: how to check it before anything is sent,
 * how to sign and send it to one kiosk, and how to read that kiosk's answer. The engine knows no
 * payload: signed configs (`config`) and software releases (`software`, issue 14).
 */
import type { KeyObject } from 'node:crypto';
import { checkPushableSettings, InvalidSettings, signConfig } from '../fleet/index.js';
import { signCommand } from '../fleet/ops.js';
import { decodeMessage, decodeOneOf, InvalidMessage, type MessageBody } from '../link/messages.js';
import { topics } from '../link/topics.js';
import type {
  ConfigPayload,
  KioskSnapshot,
  PayloadKind,
  RolloutPayload,
  SoftwarePayload,
} from './rollout-record.js';

/** A kiosk's answer to the payload sent to it. */
export interface PayloadAnswer {
  /** `pending`: taken, not in effect yet (a config waiting for the kiosk's restart at idle) */
  status: 'applied' | 'pending' | 'refused' | 'rolled-back';
  /** short, PII-free reason */
  detail?: string;
}

export interface PreparedMessage {
  /** id of the signed envelope, echoed by the kiosk's answer */
  messageId: string;
  topic: string;
  /** the signed envelope as sent */
  message: string;
  retain: boolean;
}

/** A payload that must not be sent (invalid settings…). */
export class PayloadInvalid extends Error {
  override readonly name = 'PayloadInvalid';
}

export interface PayloadDriver<P extends RolloutPayload = RolloutPayload> {
  readonly kind: P['kind'];
  /** one line for people: "config v7 (timeouts.requestMs)" */
  describe(payload: P): string;
  /** throws PayloadInvalid before anything is signed */
  check(payload: P): void;
  /**
   * The signed message for `kioskId`. The engine records it before publishing, so a process killed
   * in between re-publishes the same message (a kiosk ignores a message it already decided on).
   */
  prepare(payload: P, kioskId: string): PreparedMessage;
  /**
   * The kiosk's answer to the message `messageId`, if `payload` (published by the kiosk on `leaf`)
   * is one; undefined otherwise.
   */
  answer(leaf: string, payload: Buffer, messageId: string): PayloadAnswer | undefined;
  /** the kiosk says (status/telemetry) it runs this payload: an answer the ops process missed */
  runs(payload: P, snapshot: KioskSnapshot): boolean;
}

/** Drivers by payload kind; a rollout of a kind without a driver is refused. */
export type PayloadDrivers = { [K in PayloadKind]?: PayloadDriver<Extract<RolloutPayload, { kind: K }>> };

function settingPaths(settings: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(settings).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? settingPaths(value as Record<string, unknown>, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}

/** Signed configuration, pushed retained on `kiosk/{id}/config` (the kiosk's own layer). */
export function configDriver(key: KeyObject, now: () => number = Date.now): PayloadDriver<ConfigPayload> {
  return {
    kind: 'config',
    describe: (payload) => {
      const paths = settingPaths(payload.settings);
      const shown = paths.slice(0, 3).join(', ') + (paths.length > 3 ? `, +${paths.length - 3}` : '');
      return `config v${payload.version} (${shown})`;
    },
    check: (payload) => {
      try {
        checkPushableSettings(payload.settings);
      } catch (error) {
        if (error instanceof InvalidSettings) throw new PayloadInvalid(`invalid settings: ${error.message}`);
        throw error;
      }
    },
    prepare: (payload, kioskId) => {
      const message = signConfig({
        version: payload.version,
        settings: payload.settings,
        kioskId,
        key,
        expiresInMs: payload.expiresInMs,
        now: now(),
      });
      // retained: a kiosk that reconnects later still finds its config
      return {
        messageId: message.id,
        topic: topics.config(kioskId),
        message: JSON.stringify(message),
        retain: true,
      };
    },
    answer: (leaf, payload, messageId) => {
      if (leaf !== 'events') return undefined;
      try {
        const { body } = decodeMessage(payload, 'config.result');
        if (body.configId !== messageId) return undefined;
        // passed probation (fleet/probation.ts): as applied, and now the kiosk's last good config
        if (body.status === 'kept') return { status: 'applied', detail: 'passed probation' };
        if (body.status === 'pending-restart')
          return { status: 'pending', detail: 'waiting for its restart at idle' };
        const detail = [body.reason, body.detail].filter(Boolean).join(': ');
        return { status: body.status, ...(detail ? { detail } : {}) };
      } catch (error) {
        if (error instanceof InvalidMessage) return undefined;
        throw error;
      }
    },
    runs: (payload, snapshot) => (snapshot.configVersions?.kiosk ?? 0) >= payload.version,
  };
}

/**
 * A software release (issue 14): a signed `update-software` order on `kiosk/{id}/cmd` (not
 * retained: the kiosk's persistent session at the broker keeps it while the kiosk is offline). The
 * kiosk answers with `software.result` events naming the order (accepted, downloading, staged,
 * switching: pending; applied once it runs the release; kept once release probation passed), and
 * a `software.rolledBack` event when the release guard rolled it back. The ack timeout must cover
 * the download, the wait for idle and the restart.
 */
export function softwareDriver(key: KeyObject, now: () => number = Date.now): PayloadDriver<SoftwarePayload> {
  return {
    kind: 'software',
    describe: (payload) => `software ${payload.version}`,
    check: () => undefined, // the schema checked the version and the order's lifetime
    prepare: (payload, kioskId) => {
      const message = signCommand({
        name: 'update-software',
        kioskId,
        args: { version: payload.version },
        key,
        expiresInMs: payload.expiresInMs,
        now: now(),
      });
      return {
        messageId: message.id,
        topic: topics.cmd(kioskId),
        message: JSON.stringify(message),
        retain: false,
      };
    },
    answer: (leaf, payload, messageId) => {
      if (leaf !== 'events') return undefined;
      try {
        const message = decodeOneOf(payload, ['software.result', 'software.rolledBack']);
        if (message.type === 'software.rolledBack') {
          const body = message.body as MessageBody<'software.rolledBack'>;
          if (body.orderId !== messageId) return undefined;
          return { status: 'rolled-back', detail: `${body.from} -> ${body.to}: ${body.reason}` };
        }
        const body = message.body as MessageBody<'software.result'>;
        if (body.orderId !== messageId) return undefined;
        return softwareAnswer(body);
      } catch (error) {
        if (error instanceof InvalidMessage) return undefined;
        throw error;
      }
    },
    runs: (payload, snapshot) => snapshot.software === payload.version,
  };
}

function softwareAnswer(body: MessageBody<'software.result'>): PayloadAnswer {
  const detail = [body.reason, body.detail].filter(Boolean).join(': ');
  switch (body.status) {
    case 'applied':
      return { status: 'applied', detail: `runs ${body.version}, on probation` };
    case 'kept':
      return { status: 'applied', detail: 'passed release probation' };
    case 'refused':
      return { status: 'refused', ...(detail ? { detail } : {}) };
    case 'failed':
      return { status: 'refused', detail: `failed${detail ? `: ${detail}` : ''}` };
    case 'downloading':
      // a detail says why it is not moving (the repository unreachable, the next retry)
      return { status: 'pending', detail: body.detail ?? `downloading ${body.percent ?? 0} %` };
    default:
      return { status: 'pending', detail: body.status };
  }
}

/** Every payload kind's driver, signing with the operations key. */
export function payloadDrivers(key: KeyObject, now: () => number = Date.now): PayloadDrivers {
  return { config: configDriver(key, now), software: softwareDriver(key, now) };
}

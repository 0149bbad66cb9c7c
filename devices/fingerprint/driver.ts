import type { EventEmitter } from 'node:events';
import { DeviceCanceled, DeviceProtocolError, DeviceTimeout } from '../transport/errors.js';
import type { RequestOptions } from '../transport/request.js';
import { type SerialDeviceOptions, SerialRequestDevice } from '../transport/request-device.js';
import type { LinkHealth } from '../transport/serial.js';
import {
  CODE,
  CONFIRMATION,
  commands,
  DEFAULT_ADDRESS,
  dataPackets,
  decodeSystemParameters,
  type FingerprintFrame,
  type Packet,
  PacketDecoder,
  PID,
  type SystemParameters,
  TEMPLATE_BYTES,
} from './protocol.js';

/** The sensor answered with a confirmation code other than ok; `status` tells which. */
export class FingerprintStatusError extends DeviceProtocolError {
  constructor(step: string, status: number) {
    super('fingerprint', `${step}: ${CONFIRMATION[status] ?? `code 0x${status.toString(16)}`}`, step, status);
  }
}

export interface MatchResult {
  matched: boolean;
  score: number;
}

interface FingerprintEvents {
  health: [LinkHealth, string | undefined];
}

/**
 * The fingerprint sensor as the runtime sees it. Every operation:
 * - rejects with `DeviceDisconnected` when the port is gone or goes away while waiting;
 * - rejects with `DeviceTimeout` when the sensor does not answer in time (three in a row make the
 *   health `degraded`);
 * - rejects with `DeviceCanceled` when the caller's AbortSignal fires (the sensor may still finish
 *   the instruction; its answer is then ignored);
 * - rejects with `FingerprintStatusError` (a DeviceProtocolError with `step` and `status`) when the
 *   sensor answers with an error confirmation code.
 */
export interface FingerprintSensor extends EventEmitter<FingerprintEvents> {
  readonly health: LinkHealth;
  readonly healthDetail: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  verifyPassword(options?: RequestOptions): Promise<void>;
  readSystemParameters(options?: RequestOptions): Promise<SystemParameters>;
  /** GenImg once: true if a finger was imaged, false if none lies on the sensor. */
  captureImage(options?: RequestOptions): Promise<boolean>;
  /** GenImg until a finger is there, until `timeoutMs` (DeviceTimeout) or the signal. */
  waitForFinger(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  /** GenImg until it answers "no finger" (the finger was lifted), until `timeoutMs` or the signal. */
  waitForLift(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  imageToTemplate(buffer: 1 | 2, options?: RequestOptions): Promise<void>;
  createModel(options?: RequestOptions): Promise<void>;
  uploadTemplate(buffer: 1 | 2, options?: RequestOptions): Promise<Buffer>;
  downloadTemplate(buffer: 1 | 2, template: Buffer, options?: RequestOptions): Promise<void>;
  match(options?: RequestOptions): Promise<MatchResult>;
  search(
    buffer: 1 | 2,
    startPage: number,
    pageCount: number,
    options?: RequestOptions,
  ): Promise<number | undefined>;
  store(buffer: 1 | 2, page: number, options?: RequestOptions): Promise<void>;
  empty(options?: RequestOptions): Promise<void>;
  /** 1:1 verification: the reference template goes to buffer 2, the live finger to buffer 1. */
  verifyFinger(reference: Buffer, options: { timeoutMs: number; signal?: AbortSignal }): Promise<MatchResult>;
}

export interface SerialFingerprintOptions extends SerialDeviceOptions {
  password?: number;
  /** pause between GenImg polls while no finger is there */
  pollMs?: number;
}

export class SerialFingerprintSensor
  extends SerialRequestDevice<FingerprintFrame>
  implements FingerprintSensor
{
  private packetSize = 128;

  constructor(private readonly options: SerialFingerprintOptions) {
    super('fingerprint', options, () => new PacketDecoder(), 2000);
  }

  /** One command, one acknowledge packet; returns the ack's payload after the confirmation code. */
  private async ackOf(step: string, request: Buffer, options?: RequestOptions, accept: number[] = [CODE.ok]) {
    let payload = await this.channel.request(request, ackMatcher, options);
    if (payload[0] === CODE.passwordRequired && step !== 'VfyPwd') {
      // The sensor was power-cycled since the last handshake: a module with a password refuses
      // every instruction until VfyPwd (manual §"VfyPwd"). Verify once, then ask again.
      await this.verifyPassword(options);
      payload = await this.channel.request(request, ackMatcher, options);
    }
    const code = payload[0] as number;
    if (!accept.includes(code)) throw new FingerprintStatusError(step, code);
    return { code, rest: payload.subarray(1) };
  }

  /** A real exchange for health checks and `kiosk doctor`: handshake and read the parameters. */
  async probe(): Promise<void> {
    await this.verifyPassword();
    await this.readSystemParameters();
  }

  async verifyPassword(options?: RequestOptions): Promise<void> {
    await this.ackOf('VfyPwd', commands.vfyPwd(this.options.password ?? 0), options);
  }

  async readSystemParameters(options?: RequestOptions): Promise<SystemParameters> {
    const { rest } = await this.ackOf('ReadSysPara', commands.readSysPara(), options);
    const parameters = decodeSystemParameters(rest);
    if (!parameters)
      throw new DeviceProtocolError('fingerprint', 'malformed system parameters', 'ReadSysPara');
    this.packetSize = parameters.packetSize;
    return parameters;
  }

  async captureImage(options?: RequestOptions): Promise<boolean> {
    const { code } = await this.ackOf('GenImg', commands.genImg(), options, [CODE.ok, CODE.noFinger]);
    return code === CODE.ok;
  }

  async waitForFinger({ timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) throw new DeviceCanceled('fingerprint', 'aborted while waiting for a finger');
      if (await this.captureImage(signal ? { signal } : {})) return;
      if (performance.now() >= deadline) throw new DeviceTimeout('fingerprint', 'no finger placed in time');
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 50));
    }
  }

  /**
   * Between two attempts the finger must leave the sensor: a finger left lying there would be
   * imaged again at once and use every attempt up in a couple of seconds.
   */
  async waitForLift({ timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) throw new DeviceCanceled('fingerprint', 'aborted while waiting for a lift');
      if (!(await this.captureImage(signal ? { signal } : {}))) return;
      if (performance.now() >= deadline) throw new DeviceTimeout('fingerprint', 'finger not lifted in time');
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 50));
    }
  }

  async imageToTemplate(buffer: 1 | 2, options?: RequestOptions): Promise<void> {
    await this.ackOf('Img2Tz', commands.img2Tz(buffer), options);
  }

  async createModel(options?: RequestOptions): Promise<void> {
    await this.ackOf('RegModel', commands.regModel(), options);
  }

  async uploadTemplate(buffer: 1 | 2, options?: RequestOptions): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let acknowledged = false;
    let failure: number | undefined;
    await this.channel.request(
      commands.upChar(buffer),
      (frame) => {
        const packet = packetOf(frame);
        if (!packet) return undefined;
        if (!acknowledged) {
          if (packet.pid !== PID.ack) return undefined;
          acknowledged = true;
          if (packet.payload[0] !== CODE.ok) {
            failure = packet.payload[0];
            return true;
          }
          return undefined;
        }
        if (packet.pid !== PID.data && packet.pid !== PID.endData) return undefined;
        chunks.push(packet.payload);
        return packet.pid === PID.endData ? true : undefined;
      },
      options,
    );
    if (failure !== undefined) throw new FingerprintStatusError('UpChar', failure);
    const template = Buffer.concat(chunks);
    if (template.length !== TEMPLATE_BYTES)
      throw new DeviceProtocolError('fingerprint', `template of ${template.length} bytes`, 'UpChar');
    return template;
  }

  async downloadTemplate(buffer: 1 | 2, template: Buffer, options?: RequestOptions): Promise<void> {
    if (template.length !== TEMPLATE_BYTES) throw new RangeError(`a template is ${TEMPLATE_BYTES} bytes`);
    await this.ackOf('DownChar', commands.downChar(buffer), options);
    // The data packets carry no answer; the sensor reports a bad transfer at the next command.
    await this.channel.send(dataPackets(template, this.packetSize, DEFAULT_ADDRESS));
  }

  async match(options?: RequestOptions): Promise<MatchResult> {
    const { code, rest } = await this.ackOf('Match', commands.match(), options, [CODE.ok, CODE.noMatch]);
    return { matched: code === CODE.ok, score: rest.length >= 2 ? rest.readUInt16BE(0) : 0 };
  }

  async search(buffer: 1 | 2, startPage: number, pageCount: number, options?: RequestOptions) {
    const { code, rest } = await this.ackOf(
      'Search',
      commands.search(buffer, startPage, pageCount),
      options,
      [CODE.ok, CODE.notFound],
    );
    return code === CODE.ok && rest.length >= 2 ? rest.readUInt16BE(0) : undefined;
  }

  async store(buffer: 1 | 2, page: number, options?: RequestOptions): Promise<void> {
    await this.ackOf('Store', commands.store(buffer, page), options);
  }

  async empty(options?: RequestOptions): Promise<void> {
    await this.ackOf('Empty', commands.empty(), options);
  }

  async verifyFinger(
    reference: Buffer,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<MatchResult> {
    const request = options.signal ? { signal: options.signal } : {};
    await this.downloadTemplate(2, reference, request);
    await this.waitForFinger(options);
    await this.imageToTemplate(1, request);
    return this.match(request);
  }
}

function packetOf(frame: FingerprintFrame): Packet | undefined {
  return frame.kind === 'packet' ? frame.packet : undefined;
}

/** An acknowledge packet answers a command; damaged packets are skipped (the timeout catches loss). */
function ackMatcher(frame: FingerprintFrame): Buffer | undefined {
  const packet = packetOf(frame);
  if (!packet || packet.pid !== PID.ack || packet.payload.length === 0) return undefined;
  return packet.payload;
}

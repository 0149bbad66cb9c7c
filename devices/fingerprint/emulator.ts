import { createHash } from 'node:crypto';
import { EmulatorPort } from '../transport/emulator-port.js';
import { sleepUntil, WireClock } from '../transport/wire-clock.js';
import {
  ack,
  CODE,
  DEFAULT_ADDRESS,
  dataPackets,
  encodeSystemParameters,
  INSTRUCTION,
  type Packet,
  PacketDecoder,
  PID,
  TEMPLATE_BYTES,
} from './protocol.js';

/**
 * The sensor's own processing times, declared so that benchmarks can compute the best possible
 * time of a path (wire time + these). Values in the range R307/R503 data sheets give
 * (image capture < 1 s, matching < 1 s at 1:1).
 */
export const SENSOR_TIMING_MS = {
  genImg: 300,
  img2Tz: 200,
  match: 20,
  search: 120,
  regModel: 40,
  store: 40,
  empty: 60,
  other: 2,
} as const;

/** A synthetic finger: its template (what Img2Tz extracts) and whether its image is usable. */
export interface SyntheticFinger {
  template: Buffer;
  quality: 'good' | 'low';
}

/** Bytes of a template that identify the finger; the rest varies from capture to capture. */
const IDENTITY_BYTES = 32;

/** A deterministic template for a named synthetic finger (not PII: a made-up seed). */
export function syntheticTemplate(seed: string): Buffer {
  const out = Buffer.alloc(TEMPLATE_BYTES);
  for (let block = 0; block * 32 < TEMPLATE_BYTES; block++)
    createHash('sha256')
      .update(`${seed}#${block}`)
      .digest()
      .copy(out, block * 32);
  return out;
}

export function syntheticFinger(seed: string, quality: 'good' | 'low' = 'good'): SyntheticFinger {
  return { template: syntheticTemplate(seed), quality };
}

function sameFinger(a: Buffer, b: Buffer): boolean {
  return a.subarray(0, IDENTITY_BYTES).equals(b.subarray(0, IDENTITY_BYTES));
}

export interface FingerprintEmulatorOptions {
  path: string;
  baudRate?: number;
  password?: number;
  packetSize?: 32 | 64 | 128 | 256;
  librarySize?: number;
}

/**
 * An R30x sensor on the emulator end of a pty: speaks the packet protocol, keeps an image buffer,
 * two character buffers and a template library, and takes the sensor's declared time per
 * instruction plus the UART's wire time (ptys ignore baud rates, so it imposes them itself).
 */
export class FingerprintEmulator {
  private readonly port: EmulatorPort;
  private readonly decoder = new PacketDecoder();
  private readonly clock: WireClock;
  private work: Promise<void> = Promise.resolve();
  private finger: SyntheticFinger | undefined;
  private image: SyntheticFinger | undefined;
  private readonly charBuffers = new Map<number, Buffer>();
  private readonly library = new Map<number, Buffer>();
  private download: { buffer: number; chunks: Buffer[] } | undefined;
  /** when true the sensor receives but never answers (a hung sensor, for timeout tests) */
  silent = false;
  readonly baudRate: number;
  readonly packetSize: number;

  constructor(private readonly options: FingerprintEmulatorOptions) {
    this.baudRate = options.baudRate ?? 57600;
    this.packetSize = options.packetSize ?? 128;
    this.clock = new WireClock(this.baudRate);
    this.port = new EmulatorPort(options.path, (chunk) => this.receive(chunk));
  }

  async start(): Promise<void> {
    this.clock.reset();
    await this.port.open(this.baudRate);
  }

  async stop(): Promise<void> {
    await this.port.close();
  }

  /** The citizen puts a finger on the sensor (or lifts it: `undefined`). */
  placeFinger(finger: SyntheticFinger | undefined): void {
    this.finger = finger;
  }

  private receive(chunk: Buffer): void {
    const arrivedAt = this.clock.arrive(chunk.length);
    for (const frame of this.decoder.push(chunk)) {
      // A damaged packet is answered with "packet receive error", as the sensor does.
      const packet = frame.kind === 'packet' ? frame.packet : undefined;
      this.work = this.work.then(() => this.handle(packet, arrivedAt)).catch(() => undefined);
    }
  }

  private async handle(packet: Packet | undefined, arrivedAt: number): Promise<void> {
    await sleepUntil(arrivedAt);
    if (this.silent) return;
    if (!packet) return this.reply([ack(CODE.receiveError)], SENSOR_TIMING_MS.other);
    if (packet.address !== DEFAULT_ADDRESS) return; // not addressed to us
    if (packet.pid === PID.data || packet.pid === PID.endData) return this.receiveData(packet);
    if (packet.pid !== PID.command || packet.payload.length === 0) return;
    const args = packet.payload.subarray(1);
    const argBuffer = args[0] === 1 || args[0] === 2 ? args[0] : undefined;
    switch (packet.payload[0]) {
      case INSTRUCTION.vfyPwd: {
        const ok = args.length === 4 && args.readUInt32BE(0) === (this.options.password ?? 0);
        return this.reply([ack(ok ? CODE.ok : CODE.wrongPassword)], SENSOR_TIMING_MS.other);
      }
      case INSTRUCTION.readSysPara:
        return this.reply(
          [
            ack(
              CODE.ok,
              encodeSystemParameters({
                statusRegister: 0,
                systemId: 0x0000,
                librarySize: this.options.librarySize ?? 200,
                securityLevel: 3,
                address: DEFAULT_ADDRESS,
                packetSize: this.packetSize,
                baudRate: this.baudRate,
              }),
            ),
          ],
          SENSOR_TIMING_MS.other,
        );
      case INSTRUCTION.genImg:
        this.image = this.finger;
        return this.reply([ack(this.finger ? CODE.ok : CODE.noFinger)], SENSOR_TIMING_MS.genImg);
      case INSTRUCTION.img2Tz: {
        if (argBuffer === undefined) return this.reply([ack(CODE.receiveError)], SENSOR_TIMING_MS.other);
        if (!this.image) return this.reply([ack(CODE.noImage)], SENSOR_TIMING_MS.other);
        if (this.image.quality === 'low')
          return this.reply([ack(CODE.tooFewPoints)], SENSOR_TIMING_MS.img2Tz);
        this.charBuffers.set(argBuffer, this.image.template);
        return this.reply([ack(CODE.ok)], SENSOR_TIMING_MS.img2Tz);
      }
      case INSTRUCTION.match: {
        const [a, b] = [this.charBuffers.get(1), this.charBuffers.get(2)];
        const matched = a !== undefined && b !== undefined && sameFinger(a, b);
        const score = matched ? 180 : 12;
        return this.reply([ack(matched ? CODE.ok : CODE.noMatch, [0, score])], SENSOR_TIMING_MS.match);
      }
      case INSTRUCTION.search: {
        const probe = argBuffer === undefined ? undefined : this.charBuffers.get(argBuffer);
        const start = args.length >= 5 ? args.readUInt16BE(1) : 0;
        const count = args.length >= 5 ? args.readUInt16BE(3) : 0;
        for (const [page, template] of [...this.library].sort(([x], [y]) => x - y)) {
          if (page < start || page >= start + count || !probe || !sameFinger(probe, template)) continue;
          return this.reply([ack(CODE.ok, [page >> 8, page & 0xff, 0, 160])], SENSOR_TIMING_MS.search);
        }
        return this.reply([ack(CODE.notFound, [0, 0, 0, 0])], SENSOR_TIMING_MS.search);
      }
      case INSTRUCTION.regModel: {
        const [a, b] = [this.charBuffers.get(1), this.charBuffers.get(2)];
        if (!a || !b || !sameFinger(a, b))
          return this.reply([ack(CODE.combineFailed)], SENSOR_TIMING_MS.regModel);
        this.charBuffers.set(2, a);
        return this.reply([ack(CODE.ok)], SENSOR_TIMING_MS.regModel);
      }
      case INSTRUCTION.store: {
        const template = argBuffer === undefined ? undefined : this.charBuffers.get(argBuffer);
        const page = args.length >= 3 ? args.readUInt16BE(1) : -1;
        if (page < 0 || page >= (this.options.librarySize ?? 200))
          return this.reply([ack(CODE.badPage)], SENSOR_TIMING_MS.other);
        if (!template) return this.reply([ack(CODE.noImage)], SENSOR_TIMING_MS.other);
        this.library.set(page, template);
        return this.reply([ack(CODE.ok)], SENSOR_TIMING_MS.store);
      }
      case INSTRUCTION.upChar: {
        const template = argBuffer === undefined ? undefined : this.charBuffers.get(argBuffer);
        if (!template) return this.reply([ack(CODE.receiveError)], SENSOR_TIMING_MS.other);
        return this.reply([ack(CODE.ok), ...dataPackets(template, this.packetSize)], SENSOR_TIMING_MS.other);
      }
      case INSTRUCTION.downChar:
        if (argBuffer === undefined) return this.reply([ack(CODE.receiveError)], SENSOR_TIMING_MS.other);
        this.download = { buffer: argBuffer, chunks: [] };
        return this.reply([ack(CODE.ok)], SENSOR_TIMING_MS.other);
      case INSTRUCTION.empty:
        this.library.clear();
        return this.reply([ack(CODE.ok)], SENSOR_TIMING_MS.empty);
      default:
        return this.reply([ack(CODE.receiveError)], SENSOR_TIMING_MS.other);
    }
  }

  private receiveData(packet: Packet): void {
    const download = this.download;
    if (!download) return;
    download.chunks.push(packet.payload);
    if (packet.pid !== PID.endData) return;
    this.download = undefined;
    const template = Buffer.concat(download.chunks);
    if (template.length === TEMPLATE_BYTES) this.charBuffers.set(download.buffer, template);
  }

  /** Sends after the sensor's processing time, each packet landing when its wire time has passed. */
  private async reply(packets: readonly Buffer[], processingMs: number): Promise<void> {
    const ready = performance.now() + processingMs;
    for (const packet of packets) {
      await sleepUntil(this.clock.departure(packet.length, ready));
      await this.port.write(packet);
    }
  }
}

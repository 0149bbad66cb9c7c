import { createHash, randomInt } from 'node:crypto';
import { EmulatorPort } from '../transport/emulator-port.js';
import { sleepUntil, WireClock } from '../transport/wire-clock.js';
import {
  ack,
  CODE,
  DEFAULT_ADDRESS,
  dataPackets,
  encodeSystemParameters,
  IMAGE,
  INDEX_PAGE_TEMPLATES,
  INSTRUCTION,
  NOTEPAD,
  PACKET_SIZES,
  type Packet,
  PacketDecoder,
  PID,
  STATUS_BIT,
  SYSTEM_REGISTER,
  TEMPLATE_BYTES,
} from './protocol.js';

/**
 * The sensor's own processing times, declared so that the emulator behaves like a sensor in time
 * as well as in bytes. Values in the range the R307/R503 data sheets give (image capture < 1 s,
 * matching < 1 s at 1:1). Benchmarks never divide by these: they measure the device's time at
 * the pty (devices/transport/wire-clock.ts `tapWire`).
 */
export const SENSOR_TIMING_MS = {
  genImg: 300,
  img2Tz: 200,
  match: 20,
  search: 120,
  regModel: 40,
  store: 40,
  empty: 60,
  flash: 10,
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

/**
 * The synthetic image of a finger: its template tiled over the 4-bit image buffer, so that an
 * image uploaded with UpImage and downloaded again with DownImage yields the same finger. A low
 * quality finger images as a blank (uniform) buffer, which has no feature points.
 */
export function syntheticImage(finger: SyntheticFinger): Buffer {
  const image = Buffer.alloc(IMAGE.bytes, 0x77);
  if (finger.quality === 'low') return image;
  for (let offset = 0; offset < IMAGE.bytes; offset += TEMPLATE_BYTES) finger.template.copy(image, offset);
  return image;
}

function fingerOfImage(image: Buffer): SyntheticFinger {
  const blank = image.every((byte) => byte === image[0]);
  return { template: Buffer.from(image.subarray(0, TEMPLATE_BYTES)), quality: blank ? 'low' : 'good' };
}

function sameFinger(a: Buffer, b: Buffer): boolean {
  return a.subarray(0, IDENTITY_BYTES).equals(b.subarray(0, IDENTITY_BYTES));
}

export interface FingerprintEmulatorOptions {
  path: string;
  baudRate?: number;
  password?: number;
  address?: number;
  packetSize?: 32 | 64 | 128 | 256;
  librarySize?: number;
}

/** What a handler answers: the ack's confirmation code and parameters, then any data packets. */
interface Answer {
  code: number;
  params?: readonly number[] | Uint8Array;
  data?: Buffer;
  processingMs?: number;
  /** runs once the ack has left (SetSysPara's baud rate takes effect after its answer) */
  afterAck?: () => void;
}

type Handler = (args: Buffer) => Answer;

/** Bytes of parameters after the instruction code, per the command package format of each. */
const ARGUMENT_BYTES: Record<number, number> = {
  [INSTRUCTION.genImg]: 0,
  [INSTRUCTION.img2Tz]: 1,
  [INSTRUCTION.match]: 0,
  [INSTRUCTION.search]: 5,
  [INSTRUCTION.regModel]: 0,
  [INSTRUCTION.store]: 3,
  [INSTRUCTION.loadChar]: 3,
  [INSTRUCTION.upChar]: 1,
  [INSTRUCTION.downChar]: 1,
  [INSTRUCTION.upImage]: 0,
  [INSTRUCTION.downImage]: 0,
  [INSTRUCTION.deleteChar]: 4,
  [INSTRUCTION.empty]: 0,
  [INSTRUCTION.setSysPara]: 2,
  [INSTRUCTION.readSysPara]: 0,
  [INSTRUCTION.setPwd]: 4,
  [INSTRUCTION.vfyPwd]: 4,
  [INSTRUCTION.getRandomCode]: 0,
  [INSTRUCTION.setAdder]: 4,
  [INSTRUCTION.control]: 1,
  [INSTRUCTION.writeNotepad]: 1 + NOTEPAD.pageBytes,
  [INSTRUCTION.readNotepad]: 1,
  [INSTRUCTION.highSpeedSearch]: 5,
  [INSTRUCTION.genBinImage]: 1,
  [INSTRUCTION.templeteNum]: 0,
  [INSTRUCTION.readIndexTable]: 1,
  [INSTRUCTION.getImageEx]: 0,
  [INSTRUCTION.cancel]: 0,
  [INSTRUCTION.autoEnroll]: 5,
  [INSTRUCTION.autoIdentify]: 5,
  [INSTRUCTION.auraLedConfig]: 4,
  [INSTRUCTION.checkSensor]: 0,
  [INSTRUCTION.handShake]: 0,
};

/** R503: AutoEnroll takes six images; either automatic instruction gives up after 10 s without a finger. */
const AUTO_ENROLL_IMAGES = 6;
const AUTO_FINGER_WAIT_MS = 10_000;
const FINGER_POLL_MS = 20;

const BAUD_MULTIPLIERS = { min: 1, max: 12 } as const; // SetSysPara: baud = 9600 × N
const SECURITY_LEVELS = { min: 1, max: 5 } as const;

/** The R503's LED ring as the host last set it with AuraLedConfig. */
export interface AuraLed {
  control: number;
  speed: number;
  color: number;
  cycles: number;
}

/**
 * An R30x / ZFM / AS608 sensor (with the R503's additions) on the emulator end of a pty, written
 * from the user manuals: every instruction of the instruction table with its acknowledge length
 * and confirmation codes, data packets for UpChar/DownChar/UpImage/DownImage, the module address,
 * the handshake password, the notepad and the system parameters. It keeps an image buffer, two
 * character buffers and a template library, and takes the sensor's time per instruction plus the
 * UART's wire time (ptys ignore baud rates, so it imposes them itself).
 */
export class FingerprintEmulator {
  private readonly port: EmulatorPort;
  private readonly decoder = new PacketDecoder();
  private readonly clock: WireClock;
  private work: Promise<void> = Promise.resolve();
  private finger: SyntheticFinger | undefined;
  private image: Buffer | undefined;
  private readonly charBuffers = new Map<number, Buffer>();
  private readonly library = new Map<number, Buffer>();
  private readonly notepad = new Map<number, Buffer>();
  private download: { into: 'image' | 1 | 2; chunks: Buffer[] } | undefined;
  private password: number;
  private passwordVerified = false;
  private securityLevel = 3;
  private lastSearchFound = false;
  private readonly handlers: Record<number, Handler>;
  private readonly procedures: Record<number, (args: Buffer) => Promise<void>>;
  private cancelRequested = false;
  /** when true the sensor receives but never answers (a hung sensor, for timeout tests) */
  silent = false;
  address: number;
  packetSize: number;
  auraLed: AuraLed | undefined;
  /** Control 0x17: whether the module's USB port is enabled (the UART always is) */
  usbPortEnabled = true;

  constructor(private readonly options: FingerprintEmulatorOptions) {
    this.packetSize = options.packetSize ?? 128;
    this.password = options.password ?? 0;
    this.address = options.address ?? DEFAULT_ADDRESS;
    this.clock = new WireClock(options.baudRate ?? 57600);
    this.port = new EmulatorPort(options.path, (chunk) => this.receive(chunk));
    this.handlers = this.instructionTable();
    this.procedures = {
      [INSTRUCTION.autoEnroll]: (args) => this.autoEnroll(args),
      [INSTRUCTION.autoIdentify]: (args) => this.autoIdentify(args),
    };
  }

  get baudRate(): number {
    return this.clock.baudRate;
  }

  get librarySize(): number {
    return this.options.librarySize ?? 200;
  }

  /** Pages of the library that hold a template, in order. */
  get storedPages(): number[] {
    return [...this.library.keys()].sort((a, b) => a - b);
  }

  /** Powers the sensor on: the handshake password must be verified again (manual §"VfyPwd"). */
  async start(): Promise<void> {
    this.clock.reset();
    this.passwordVerified = false;
    this.download = undefined;
    await this.port.open(this.clock.baudRate);
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
      // A package whose checksum fails is answered with "error when receiving package"; stray
      // bytes between packages are line noise the module skips while it looks for a header.
      if (frame.kind === 'error' && frame.error.reason !== 'checksum') continue;
      const packet = frame.kind === 'packet' ? frame.packet : undefined;
      // Cancel reaches a running AutoEnroll/AutoIdentify at once; it is answered after it stops.
      if (packet?.pid === PID.command && packet.payload[0] === INSTRUCTION.cancel)
        this.cancelRequested = true;
      this.work = this.work.then(() => this.handle(packet, arrivedAt)).catch(() => undefined);
    }
  }

  private async handle(packet: Packet | undefined, arrivedAt: number): Promise<void> {
    await sleepUntil(arrivedAt);
    if (this.silent) return;
    if (!packet) return this.answer({ code: CODE.receiveError });
    // The address is the module's bus address: packets for another module are not ours to answer.
    if (packet.address >>> 0 !== this.address >>> 0) return;
    if (packet.pid === PID.data || packet.pid === PID.endData) return this.receiveData(packet);
    if (packet.pid !== PID.command || packet.payload.length === 0) return;
    const [instruction, args] = [packet.payload[0] as number, packet.payload.subarray(1)];
    const procedure = this.procedures[instruction];
    const refusal = procedure ? this.refusal(instruction, args) : undefined;
    if (procedure && !refusal) return procedure(args);
    return this.answer(refusal ?? this.execute(instruction, args));
  }

  /** An instruction refused before it runs: malformed, or the password not yet verified. */
  private refusal(instruction: number, args: Buffer): Answer | undefined {
    if (args.length !== ARGUMENT_BYTES[instruction]) return { code: CODE.receiveError };
    // A module whose password is not the default refuses to work until VfyPwd succeeds (manual
    // §"VfyPwd"); the R503 names the refusal 21h, "password must be verified".
    if (this.password !== 0 && !this.passwordVerified && instruction !== INSTRUCTION.vfyPwd)
      return { code: CODE.passwordRequired };
    return undefined;
  }

  private execute(instruction: number, args: Buffer): Answer {
    const handler = this.handlers[instruction];
    // R503 manual §"Confirmation code": FCh, unsupported command.
    if (!handler) return { code: CODE.unsupported };
    return this.refusal(instruction, args) ?? handler(args);
  }

  /** Handlers by instruction code; the section names are those of the R307/R503 user manuals. */
  private instructionTable(): Record<number, Handler> {
    return {
      ...this.systemInstructions(),
      ...this.imageInstructions(),
      ...this.templateInstructions(),
      ...this.libraryInstructions(),
      ...this.r503Instructions(),
    };
  }

  /** §"System-related instructions". */
  private systemInstructions(): Record<number, Handler> {
    return {
      // VfyPwd: ack 00 correct, 13h wrong password.
      [INSTRUCTION.vfyPwd]: (args) => {
        this.passwordVerified = args.readUInt32BE(0) === this.password >>> 0;
        return { code: this.passwordVerified ? CODE.ok : CODE.wrongPassword };
      },
      // SetPwd: ack 00; the new password is kept in flash.
      [INSTRUCTION.setPwd]: (args) => {
        this.password = args.readUInt32BE(0);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.flash };
      },
      // SetAdder: the acknowledge already carries the new address.
      [INSTRUCTION.setAdder]: (args) => {
        this.address = args.readUInt32BE(0);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.flash };
      },
      // SetSysPara: parameter 4 baud (N × 9600, N 1–12), 5 security level (1–5), 6 packet size
      // (0–3 = 32/64/128/256 bytes); another number is 1Ah, a bad value 1Bh.
      [INSTRUCTION.setSysPara]: (args) => this.setSystemParameter(args[0] as number, args[1] as number),
      // ReadSysPara: ack 00 + 16 bytes (status, system id, library size, security level, address,
      // packet size code, baud multiplier).
      [INSTRUCTION.readSysPara]: () => ({
        code: CODE.ok,
        params: encodeSystemParameters({
          statusRegister: this.statusRegister(),
          systemId: 0x0000,
          librarySize: this.librarySize,
          securityLevel: this.securityLevel,
          address: this.address,
          packetSize: this.packetSize,
          baudRate: this.clock.baudRate,
        }),
      }),
      // Control: 0 turns the USB port off, 1 on; anything else is 1Dh.
      [INSTRUCTION.control]: (args) => {
        if (args[0] !== 0 && args[0] !== 1) return { code: CODE.portError };
        this.usbPortEnabled = args[0] === 1;
        return { code: CODE.ok };
      },
      // GetRandomCode: ack 00 + a 32-bit random number.
      [INSTRUCTION.getRandomCode]: () => {
        const value = randomInt(0, 2 ** 32 - 1);
        return {
          code: CODE.ok,
          params: [value >>> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff],
        };
      },
      // WriteNotepad: page 0–15 + 32 bytes; ReadNotepad: page → ack 00 + 32 bytes.
      [INSTRUCTION.writeNotepad]: (args) => {
        const page = args[0] as number;
        if (page >= NOTEPAD.pages) return { code: CODE.badNotepadPage };
        this.notepad.set(page, Buffer.from(args.subarray(1)));
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.flash };
      },
      [INSTRUCTION.readNotepad]: (args) => {
        const page = args[0] as number;
        if (page >= NOTEPAD.pages) return { code: CODE.badNotepadPage };
        return { code: CODE.ok, params: this.notepad.get(page) ?? Buffer.alloc(NOTEPAD.pageBytes) };
      },
      // TempleteNum: ack 00 + the number of stored templates (2 bytes).
      [INSTRUCTION.templeteNum]: () => ({ code: CODE.ok, params: u16(this.library.size) }),
      // ReadIndexTable: index page 0–3 → ack 00 + 32 bytes, bit n of byte k = template 8k + n.
      [INSTRUCTION.readIndexTable]: (args) => {
        const indexPage = args[0] as number;
        if (indexPage > 3) return { code: CODE.receiveError };
        const table = Buffer.alloc(INDEX_PAGE_TEMPLATES / 8);
        for (const page of this.library.keys()) {
          const offset = page - indexPage * INDEX_PAGE_TEMPLATES;
          if (offset < 0 || offset >= INDEX_PAGE_TEMPLATES) continue;
          table[offset >> 3] = (table[offset >> 3] as number) | (1 << (offset & 7));
        }
        return { code: CODE.ok, params: table };
      },
    };
  }

  /** §"Fingerprint-processing instructions": the image buffer. */
  private imageInstructions(): Record<number, Handler> {
    return {
      // GenImg: ack 00 imaged, 02h no finger, 03h failed to collect.
      [INSTRUCTION.genImg]: () => this.capture(),
      // UpImage: ack 00 then the image in data packets; 0Fh when there is no image to upload.
      [INSTRUCTION.upImage]: () =>
        this.image ? { code: CODE.ok, data: this.image } : { code: CODE.imageUploadFailed },
      // DownImage: ack 00, then the host sends the image in data packets.
      [INSTRUCTION.downImage]: () => {
        this.download = { into: 'image', chunks: [] };
        return { code: CODE.ok };
      },
      // Img2Tz: buffer 1/2; 06h disorderly, 07h too few feature points, 15h no valid image.
      [INSTRUCTION.img2Tz]: (args) => {
        const buffer = bufferId(args[0]);
        if (buffer === undefined) return { code: CODE.receiveError };
        if (!this.image) return { code: CODE.noImage };
        const finger = fingerOfImage(this.image);
        if (finger.quality === 'low')
          return { code: CODE.tooFewPoints, processingMs: SENSOR_TIMING_MS.img2Tz };
        this.charBuffers.set(buffer, finger.template);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.img2Tz };
      },
      // GenBinImage (ZFM): 0 binary, 1 not thinned, 2 thinned; 15h without a valid image.
      [INSTRUCTION.genBinImage]: (args) => {
        if ((args[0] as number) > 2) return { code: CODE.receiveError };
        return { code: this.image ? CODE.ok : CODE.noImage, processingMs: SENSOR_TIMING_MS.img2Tz };
      },
    };
  }

  /** §"Fingerprint-processing instructions": character buffers and 1:1 matching. */
  private templateInstructions(): Record<number, Handler> {
    return {
      // RegModel: combines buffers 1 and 2 into a template in both; 0Ah when they disagree.
      [INSTRUCTION.regModel]: () => {
        const [a, b] = [this.charBuffers.get(1), this.charBuffers.get(2)];
        if (!a || !b || !sameFinger(a, b))
          return { code: CODE.combineFailed, processingMs: SENSOR_TIMING_MS.regModel };
        this.charBuffers.set(2, a);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.regModel };
      },
      // Match: ack 00/08h + matching score (2 bytes).
      [INSTRUCTION.match]: () => {
        const [a, b] = [this.charBuffers.get(1), this.charBuffers.get(2)];
        const matched = a !== undefined && b !== undefined && sameFinger(a, b);
        return {
          code: matched ? CODE.ok : CODE.noMatch,
          params: u16(matched ? 180 : 12),
          processingMs: SENSOR_TIMING_MS.match,
        };
      },
      // UpChar: ack 00 then the template in data packets; 0Dh when the buffer holds none.
      [INSTRUCTION.upChar]: (args) => {
        const buffer = bufferId(args[0]);
        if (buffer === undefined) return { code: CODE.receiveError };
        const template = this.charBuffers.get(buffer);
        return template ? { code: CODE.ok, data: template } : { code: CODE.uploadFailed };
      },
      // DownChar: ack 00, then the host sends the template in data packets.
      [INSTRUCTION.downChar]: (args) => {
        const buffer = bufferId(args[0]);
        if (buffer === undefined) return { code: CODE.receiveError };
        this.download = { into: buffer, chunks: [] };
        return { code: CODE.ok };
      },
    };
  }

  /** §"Fingerprint-processing instructions": the flash library. */
  private libraryInstructions(): Record<number, Handler> {
    const search: Handler = (args) => {
      const probe = this.charBuffers.get(bufferId(args[0]) ?? 0);
      const [start, count] = [args.readUInt16BE(1), args.readUInt16BE(3)];
      const page = this.storedPages.find((candidate) => {
        const template = this.library.get(candidate) as Buffer;
        return candidate >= start && candidate < start + count && probe && sameFinger(probe, template);
      });
      this.lastSearchFound = page !== undefined;
      // Search / HighSpeedSearch: ack 00 + page id + score, or 09h with zeros.
      return page === undefined
        ? { code: CODE.notFound, params: [0, 0, 0, 0], processingMs: SENSOR_TIMING_MS.search }
        : { code: CODE.ok, params: [...u16(page), ...u16(160)], processingMs: SENSOR_TIMING_MS.search };
    };
    return {
      [INSTRUCTION.search]: search,
      [INSTRUCTION.highSpeedSearch]: search,
      // Store: buffer + page; 0Bh page beyond the library; an empty buffer has nothing to store.
      [INSTRUCTION.store]: (args) => {
        const page = args.readUInt16BE(1);
        const template = this.charBuffers.get(bufferId(args[0]) ?? 0);
        if (page >= this.librarySize) return { code: CODE.badPage };
        if (!template) return { code: CODE.receiveError };
        this.library.set(page, template);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.store };
      },
      // LoadChar: page → buffer; 0Bh beyond the library, 0Ch no valid template there.
      [INSTRUCTION.loadChar]: (args) => {
        const buffer = bufferId(args[0]);
        const page = args.readUInt16BE(1);
        if (buffer === undefined) return { code: CODE.receiveError };
        if (page >= this.librarySize) return { code: CODE.badPage };
        const template = this.library.get(page);
        if (!template) return { code: CODE.badTemplate };
        this.charBuffers.set(buffer, template);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.flash };
      },
      // DeletChar: page + count; 10h when the range is empty or leaves the library.
      [INSTRUCTION.deleteChar]: (args) => {
        const [page, count] = [args.readUInt16BE(0), args.readUInt16BE(2)];
        if (count === 0 || page + count > this.librarySize) return { code: CODE.deleteFailed };
        for (let deleted = page; deleted < page + count; deleted++) this.library.delete(deleted);
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.flash };
      },
      // Empty: ack 00 (11h is a flash failure, which this sensor does not have).
      [INSTRUCTION.empty]: () => {
        this.library.clear();
        return { code: CODE.ok, processingMs: SENSOR_TIMING_MS.empty };
      },
    };
  }

  /** R503 user manual Ver 1.2.2 additions that a stock R503 client sends. */
  private r503Instructions(): Record<number, Handler> {
    return {
      // GetImageEx: like GenImg, 07h for a poor image.
      [INSTRUCTION.getImageEx]: () => {
        const answer = this.capture();
        return this.finger?.quality === 'low' ? { ...answer, code: CODE.tooFewPoints } : answer;
      },
      // AuraLedConfig: control (1 breathing … 6 gradually off), speed, colour index, cycles.
      [INSTRUCTION.auraLedConfig]: (args) => {
        const [control, speed, color, cycles] = [...args] as [number, number, number, number];
        if (control < 1 || control > 6) return { code: CODE.receiveError };
        this.auraLed = { control, speed, color, cycles };
        return { code: CODE.ok };
      },
      // Cancel: stops a running AutoEnroll/AutoIdentify, which answers 26h at the step it was
      // waiting in; Cancel itself is answered 00 once that has stopped.
      [INSTRUCTION.cancel]: () => {
        this.cancelRequested = false;
        return { code: CODE.ok };
      },
      // CheckSensor: 00 normal, 29h sensor abnormal. HandShake: 00 device normal.
      [INSTRUCTION.checkSensor]: () => ({ code: CODE.ok }),
      [INSTRUCTION.handShake]: () => ({ code: CODE.ok }),
    };
  }

  /**
   * AutoEnroll (R503 manual §"Automatic registration template"): location ID, then config 1
   * (overwrite a taken location), 2 (allow a finger already enrolled), 3 (answer every key step,
   * else only the last), 4 (ask the finger to leave between images). Each acknowledge is
   * confirmation code, step, location: steps 01h–0Ch collect/generate for six images, 0Dh the
   * duplicate check, 0Eh the merge, 0Fh the storage (with the location).
   */
  private async autoEnroll(args: Buffer): Promise<void> {
    const [id, overwrite, duplicates, everyStep, askLeave] = [...args] as [
      number,
      number,
      number,
      number,
      number,
    ];
    const step = (code: number, at: number, final = code !== CODE.ok) =>
      final || everyStep ? this.answer({ code, params: [at, at === 0x0f ? id : 0] }) : Promise.resolve();
    if (id >= this.librarySize) return step(CODE.badPage, 0x00);
    if (this.library.has(id) && !overwrite) return step(CODE.templateSlot, 0x00);
    const templates: Buffer[] = [];
    for (let image = 1; image <= AUTO_ENROLL_IMAGES; image++) {
      const finger = await this.waitForFinger(true);
      if (!finger) return step(CODE.timeout, 2 * image - 1);
      await sleepFor(SENSOR_TIMING_MS.genImg);
      this.image = syntheticImage(finger);
      await step(CODE.ok, 2 * image - 1);
      await sleepFor(SENSOR_TIMING_MS.img2Tz);
      if (finger.quality === 'low') return step(CODE.tooFewPoints, 2 * image);
      templates.push(finger.template);
      await step(CODE.ok, 2 * image);
      if (askLeave && image < AUTO_ENROLL_IMAGES && !(await this.waitForFinger(false)))
        return step(CODE.timeout, 2 * image);
    }
    const model = templates[0] as Buffer;
    const enrolled = [...this.library.values()].some((stored) => sameFinger(stored, model));
    if (enrolled && !duplicates) return step(CODE.alreadyExists, 0x0d);
    await step(CODE.ok, 0x0d);
    if (!templates.every((template) => sameFinger(template, model))) return step(CODE.combineFailed, 0x0e);
    await sleepFor(SENSOR_TIMING_MS.regModel);
    await step(CODE.ok, 0x0e);
    this.library.set(id, model);
    this.charBuffers.set(1, model);
    await sleepFor(SENSOR_TIMING_MS.store);
    return step(CODE.ok, 0x0f, true);
  }

  /**
   * AutoIdentify (R503 manual §"Automatic fingerprint verification"): security level, start
   * location, number of locations, config 1 (answer every key step), config 2 (failed searches
   * allowed before giving up; 0 = keep trying). Each acknowledge is confirmation code, step
   * (1 collect, 2 generate, 3 search), location (2 bytes) and score (2 bytes).
   */
  private async autoIdentify(args: Buffer): Promise<void> {
    const [, start, count, everyStep, errorsAllowed] = [...args] as [number, number, number, number, number];
    const step = (code: number, at: number, page = 0, score = 0, final = code !== CODE.ok) =>
      final || everyStep
        ? this.answer({ code, params: [at, ...u16(page), ...u16(score)] })
        : Promise.resolve();
    if (start >= this.librarySize) return step(CODE.badPage, 0x00);
    if (this.library.size === 0) return step(CODE.libraryEmpty, 0x00);
    for (let failures = 0; ;) {
      const finger = await this.waitForFinger(true);
      if (!finger) return step(CODE.timeout, 1);
      await sleepFor(SENSOR_TIMING_MS.genImg);
      this.image = syntheticImage(finger);
      await step(CODE.ok, 1);
      await sleepFor(SENSOR_TIMING_MS.img2Tz);
      if (finger.quality === 'low') return step(CODE.tooFewPoints, 2);
      await step(CODE.ok, 2);
      await sleepFor(SENSOR_TIMING_MS.search);
      const page = this.storedPages.find(
        (candidate) =>
          candidate >= start &&
          candidate < start + count &&
          sameFinger(this.library.get(candidate) as Buffer, finger.template),
      );
      if (page !== undefined) return step(CODE.ok, 3, page, 160, true);
      failures++;
      if (errorsAllowed !== 0 && failures >= errorsAllowed) return step(CODE.notFound, 3);
      if (!(await this.waitForFinger(false))) return step(CODE.timeout, 3);
    }
  }

  /** Waits up to 10 s for a finger (or for it to leave); undefined/false on timeout or Cancel. */
  private async waitForFinger(present: true): Promise<SyntheticFinger | undefined>;
  private async waitForFinger(present: false): Promise<boolean>;
  private async waitForFinger(present: boolean): Promise<SyntheticFinger | boolean | undefined> {
    const deadline = performance.now() + AUTO_FINGER_WAIT_MS;
    while (!this.cancelRequested && performance.now() < deadline) {
      if (present && this.finger) return this.finger;
      if (!present && !this.finger) return true;
      await sleepFor(FINGER_POLL_MS);
    }
    return present ? undefined : false;
  }

  private capture(): Answer {
    this.image = this.finger ? syntheticImage(this.finger) : undefined;
    return { code: this.finger ? CODE.ok : CODE.noFinger, processingMs: SENSOR_TIMING_MS.genImg };
  }

  private setSystemParameter(register: number, value: number): Answer {
    switch (register) {
      case SYSTEM_REGISTER.baudRate:
        if (value < BAUD_MULTIPLIERS.min || value > BAUD_MULTIPLIERS.max)
          return { code: CODE.badRegisterValue };
        return { code: CODE.ok, afterAck: () => this.clock.retune(9600 * value) };
      case SYSTEM_REGISTER.securityLevel:
        if (value < SECURITY_LEVELS.min || value > SECURITY_LEVELS.max)
          return { code: CODE.badRegisterValue };
        this.securityLevel = value;
        return { code: CODE.ok };
      case SYSTEM_REGISTER.packetSize: {
        const size = PACKET_SIZES[value];
        if (size === undefined) return { code: CODE.badRegisterValue };
        this.packetSize = size;
        return { code: CODE.ok };
      }
      default:
        return { code: CODE.badRegister };
    }
  }

  private statusRegister(): number {
    return (
      (this.lastSearchFound ? STATUS_BIT.pass : 0) |
      (this.passwordVerified ? STATUS_BIT.passwordVerified : 0) |
      (this.image ? STATUS_BIT.imageValid : 0)
    );
  }

  private receiveData(packet: Packet): void {
    const download = this.download;
    if (!download) return;
    download.chunks.push(packet.payload);
    if (packet.pid !== PID.endData) return;
    this.download = undefined;
    const data = Buffer.concat(download.chunks);
    // A transfer of the wrong size leaves the buffer as it was; the next instruction then works
    // on the old contents, as the manual's data-packet section leaves it to the host to check.
    if (download.into === 'image') {
      if (data.length === IMAGE.bytes) this.image = data;
    } else if (data.length === TEMPLATE_BYTES) this.charBuffers.set(download.into, data);
  }

  /** Sends the ack after the sensor's processing time, then any data packets, each landing when its
   *  wire time has passed. The ack carries the module's (possibly just changed) address. */
  private async answer(answer: Answer): Promise<void> {
    const ready = performance.now() + (answer.processingMs ?? SENSOR_TIMING_MS.other);
    const packets = [ack(answer.code, answer.params ?? [], this.address)];
    if (answer.data) packets.push(...dataPackets(answer.data, this.packetSize, this.address));
    for (const packet of packets) {
      await sleepUntil(this.clock.departure(packet.length, ready));
      await this.port.write(packet);
    }
    answer.afterAck?.();
  }
}

function sleepFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bufferId(value: number | undefined): 1 | 2 | undefined {
  return value === 1 || value === 2 ? value : undefined;
}

function u16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

/**
 * Cross-check of the R30x/ZFM/AS608 emulator against the user manuals, over a real pty.
 *
 * No third-party R30x client can be installed on this project's machines: the npm registry they
 * reach carries none (the `zfm20` packages the search finds are not there) and Debian packages
 * none (libfprint drives USB readers, not this UART protocol). So the client here is not our
 * driver and not our codec: it writes the command packages byte for byte as the manuals print
 * them (R307 / R503 user manual, "Instruction table" and each instruction's "Command package
 * format"), parses the answers with its own few lines, and checks each acknowledge against the
 * manual's "Acknowledge package format": PID 07h, the package length, the confirmation code and
 * the checksum. It runs the instruction sequences of the stock client examples, Adafruit's
 * Fingerprint library (enroll, fingerprint, delete, show_fingerprint_templates) and
 * pyfingerprint (example_index, example_downloadimage, example_generaterandom), and the R503
 * manual's own AutoEnroll/AutoIdentify acknowledge tables.
 */
import fc from 'fast-check';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { FingerprintEmulator, fingerprintProtocol, syntheticFinger } from '../../../devices/index.js';
import { pluggablePty } from '../../helpers/device-rig.js';

interface ManualPackage {
  address: number;
  pid: number;
  /** the "package length" field: contents + 2 checksum bytes */
  length: number;
  contents: Buffer;
}

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** A command package by the manual's definition: the checksum is the arithmetic sum of the
 *  package identifier, the package length and all contents, keeping the low 16 bits. */
function manualCommand(contents: number[], pid = 0x01, address = 0xffffffff): Buffer {
  const length = contents.length + 2;
  const sum = [pid, length >> 8, length & 0xff, ...contents].reduce((a, b) => a + b, 0) & 0xffff;
  const head = Buffer.alloc(9);
  head.writeUInt16BE(0xef01, 0);
  head.writeUInt32BE(address >>> 0, 2);
  head.writeUInt8(pid, 6);
  head.writeUInt16BE(length, 7);
  return Buffer.concat([head, Buffer.from(contents), Buffer.from([sum >> 8, sum & 0xff])]);
}

/** The host side, as a stock client does it: write a package, read packages back. */
class ManualClient {
  private buffer = Buffer.alloc(0);
  private readonly packages: ManualPackage[] = [];
  private wake: (() => void) | undefined;

  constructor(private readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
      this.wake?.();
    });
  }

  static async open(path: string): Promise<ManualClient> {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false, lock: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    return new ManualClient(port);
  }

  async close(): Promise<void> {
    if (this.port.isOpen) await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.port.write(bytes, (error) => (error ? reject(error) : this.port.drain(() => resolve()))),
    );
  }

  /** Sends a command package and returns its acknowledge, checked against the manual's format. */
  async command(bytes: Buffer, ackLength = 3): Promise<{ code: number; params: Buffer; address: number }> {
    await this.write(bytes);
    return this.ack(ackLength, bytes.toString('hex'));
  }

  /** The next acknowledge package (AutoEnroll/AutoIdentify send several for one command). */
  async ack(
    length: number,
    what = 'an acknowledge',
  ): Promise<{ code: number; params: Buffer; address: number }> {
    const answer = await this.next();
    expect(answer.pid, 'acknowledge package identifier').toBe(0x07);
    expect(answer.length, `package length of the answer to ${what}`).toBe(length);
    return {
      code: answer.contents[0] as number,
      params: answer.contents.subarray(1),
      address: answer.address,
    };
  }

  /** Data packages (PID 02h) up to and including the end-of-data package (PID 08h). */
  async data(): Promise<{ bytes: Buffer; sizes: number[] }> {
    const parts: Buffer[] = [];
    for (;;) {
      const part = await this.next();
      expect([0x02, 0x08]).toContain(part.pid);
      parts.push(part.contents);
      if (part.pid === 0x08) return { bytes: Buffer.concat(parts), sizes: parts.map((p) => p.length) };
    }
  }

  /** True when no package arrives within `ms` (a module that must not answer). */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.packages.length === 0;
  }

  async next(timeoutMs = 10_000): Promise<ManualPackage> {
    const deadline = Date.now() + timeoutMs;
    while (this.packages.length === 0) {
      if (Date.now() > deadline) throw new Error('no answer from the module');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.packages.shift() as ManualPackage;
  }

  private parse(): void {
    while (this.buffer.length >= 9) {
      expect(this.buffer.readUInt16BE(0), 'header').toBe(0xef01);
      const length = this.buffer.readUInt16BE(7);
      if (this.buffer.length < 9 + length) return;
      const pid = this.buffer[6] as number;
      const contents = this.buffer.subarray(9, 7 + length);
      const sum = [pid, length >> 8, length & 0xff, ...contents].reduce((a, b) => a + b, 0) & 0xffff;
      expect(this.buffer.readUInt16BE(7 + length), 'checksum').toBe(sum);
      this.packages.push({
        address: this.buffer.readUInt32BE(2),
        pid,
        length,
        contents: Buffer.from(contents),
      });
      this.buffer = this.buffer.subarray(9 + length);
    }
  }
}

// Fixed command packages exactly as the manuals print them (header, address, PID, length,
// instruction, checksum).
const GEN_IMG = hex('EF01 FFFFFFFF 01 0003 01 0005');
const IMG2TZ_1 = hex('EF01 FFFFFFFF 01 0004 02 01 0008');
const IMG2TZ_2 = hex('EF01 FFFFFFFF 01 0004 02 02 0009');
const MATCH = hex('EF01 FFFFFFFF 01 0003 03 0007');
const REG_MODEL = hex('EF01 FFFFFFFF 01 0003 05 0009');
const UP_IMAGE = hex('EF01 FFFFFFFF 01 0003 0A 000E');
const EMPTY = hex('EF01 FFFFFFFF 01 0003 0D 0011');
const READ_SYS_PARA = hex('EF01 FFFFFFFF 01 0003 0F 0013');
const VFY_PWD_0 = hex('EF01 FFFFFFFF 01 0007 13 00000000 001B');
const GET_RANDOM_CODE = hex('EF01 FFFFFFFF 01 0003 14 0018');
const TEMPLETE_NUM = hex('EF01 FFFFFFFF 01 0003 1D 0021');
const READ_INDEX_TABLE_0 = hex('EF01 FFFFFFFF 01 0004 1F 00 0024');
/** Adafruit's fingerFastSearch: HighSpeedSearch in buffer 1 from page 0 over 0xA3 pages. */
const HIGH_SPEED_SEARCH = hex('EF01 FFFFFFFF 01 0008 1B 01 0000 00A3 00C8');
const STORE_1_AT_3 = hex('EF01 FFFFFFFF 01 0006 06 01 0003 0011');
const LOAD_CHAR_2_FROM_3 = hex('EF01 FFFFFFFF 01 0006 07 02 0003 0013');
const UP_CHAR_1 = hex('EF01 FFFFFFFF 01 0004 08 01 000E');
const DELET_CHAR_3_ONE = hex('EF01 FFFFFFFF 01 0007 0C 0003 0001 0018');

describe('R30x emulator against the user manual, over a real pty', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig() {
    const pty = await pluggablePty('fingerprint-manual');
    // 115200 baud (N = 12) and 256-byte packets keep the 36 KiB image upload short.
    const emulator = new FingerprintEmulator({ path: pty.emulatorPath, baudRate: 115200, packetSize: 256 });
    await emulator.start();
    const client = await ManualClient.open(pty.devicePath);
    cleanups.push(async () => {
      await client.close();
      await emulator.stop();
      await pty.close();
    });
    return { pty, emulator, client };
  }

  it('runs the stock enroll, search, template count, index table, load, upload and delete flows', async () => {
    const { emulator, client } = await rig();
    const finger = syntheticFinger('manual-enrolee');

    // begin(): VfyPwd with the default password, then ReadSysPara (19-byte answer).
    expect((await client.command(VFY_PWD_0)).code).toBe(0x00);
    const parameters = await client.command(READ_SYS_PARA, 0x13);
    expect(parameters.code).toBe(0x00);
    expect(parameters.params.readUInt16BE(4)).toBe(200); // finger library size
    expect(parameters.params.readUInt32BE(8)).toBe(0xffffffff); // device address
    expect(parameters.params.readUInt16BE(12)).toBe(3); // packet size code 3 = 256 bytes
    expect(parameters.params.readUInt16BE(14)).toBe(12); // baud = 9600 × 12
    expect(await client.command(TEMPLETE_NUM, 5)).toMatchObject({ code: 0x00, params: hex('0000') });

    // enroll: GenImg until a finger (02h "no finger" first), Img2Tz 1, again, Img2Tz 2, RegModel, Store.
    expect((await client.command(GEN_IMG)).code).toBe(0x02);
    emulator.placeFinger(finger);
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(IMG2TZ_1)).code).toBe(0x00);
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(IMG2TZ_2)).code).toBe(0x00);
    expect((await client.command(REG_MODEL)).code).toBe(0x00);
    expect((await client.command(STORE_1_AT_3)).code).toBe(0x00);
    expect(await client.command(TEMPLETE_NUM, 5)).toMatchObject({ code: 0x00, params: hex('0001') });

    // pyfingerprint example_index: ReadIndexTable page 0, 32 bytes, bit 3 of byte 0 = template 3.
    const index = await client.command(READ_INDEX_TABLE_0, 0x23);
    expect(index.code).toBe(0x00);
    expect(index.params).toEqual(Buffer.concat([hex('08'), Buffer.alloc(31)]));

    // fingerprint: GenImg, Img2Tz 1, HighSpeedSearch → page 3 and a score (7-byte answer).
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(IMG2TZ_1)).code).toBe(0x00);
    const found = await client.command(HIGH_SPEED_SEARCH, 7);
    expect(found.code).toBe(0x00);
    expect(found.params.readUInt16BE(0)).toBe(3);
    expect(found.params.readUInt16BE(2)).toBeGreaterThan(0);
    // Search (04h) for someone not enrolled: 09h with page and score zero.
    emulator.placeFinger(syntheticFinger('manual-stranger'));
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(IMG2TZ_1)).code).toBe(0x00);
    const search = manualCommand([0x04, 0x01, 0x00, 0x00, 0x00, 0xc8]);
    expect(await client.command(search, 7)).toMatchObject({ code: 0x09, params: hex('00000000') });

    // 1:1 against the stored template: LoadChar into buffer 2, capture into 1, Match (5 bytes).
    emulator.placeFinger(finger);
    expect((await client.command(LOAD_CHAR_2_FROM_3)).code).toBe(0x00);
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(IMG2TZ_1)).code).toBe(0x00);
    expect((await client.command(MATCH, 5)).code).toBe(0x00);

    // show_fingerprint_templates: LoadChar then UpChar → ack 00 then 512 bytes of data packages.
    expect((await client.command(UP_CHAR_1)).code).toBe(0x00);
    const template = await client.data();
    expect(template.bytes).toEqual(finger.template);
    expect(template.sizes).toEqual([256, 256]);
    // DownChar the template back into buffer 2 and match it against the live finger.
    expect((await client.command(manualCommand([0x09, 0x02]))).code).toBe(0x00);
    await client.write(manualCommand([...template.bytes.subarray(0, 256)], 0x02));
    await client.write(manualCommand([...template.bytes.subarray(256)], 0x08));
    expect((await client.command(MATCH, 5)).code).toBe(0x00);

    // example_downloadimage: GenImg, UpImage → ack 00 then 256 × 288 pixels at 4 bits.
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(UP_IMAGE)).code).toBe(0x00);
    const image = await client.data();
    expect(image.bytes.length).toBe((256 * 288) / 2);

    // delete: DeletChar page 3, one template; then the library is empty; LoadChar finds nothing (0Ch).
    expect((await client.command(DELET_CHAR_3_ONE)).code).toBe(0x00);
    expect(await client.command(TEMPLETE_NUM, 5)).toMatchObject({ code: 0x00, params: hex('0000') });
    expect((await client.command(LOAD_CHAR_2_FROM_3)).code).toBe(0x0c);
    expect((await client.command(EMPTY)).code).toBe(0x00);

    // example_generaterandom: GetRandomCode → 00 + 4 bytes.
    expect((await client.command(GET_RANDOM_CODE, 7)).code).toBe(0x00);
  });

  it('runs the R503 AutoEnroll and AutoIdentify instructions step by step, and Cancel', async () => {
    const { emulator, client } = await rig();
    const finger = syntheticFinger('manual-auto');
    emulator.placeFinger(finger);
    // AutoEnroll at location 7, every key step answered: 01h–0Ch six images, 0Dh, 0Eh, 0Fh + location.
    await client.write(manualCommand([0x31, 0x07, 0x00, 0x00, 0x01, 0x00]));
    const steps: number[][] = [];
    for (let step = 1; step <= 15; step++) {
      const { code, params } = await client.ack(5);
      steps.push([code, ...params]);
    }
    expect(steps).toEqual([...Array(15).keys()].map((i) => [0x00, i + 1, i === 14 ? 0x07 : 0x00]));
    expect(emulator.storedPages).toEqual([7]);
    // The same finger again, duplicates not allowed, only the last step answered: 27h at 0Dh.
    await client.write(manualCommand([0x31, 0x08, 0x00, 0x00, 0x00, 0x00]));
    expect(await client.ack(5)).toMatchObject({ code: 0x27, params: hex('0d00') });
    // AutoIdentify over locations 0–199, every step: collect, generate, search → location 7 + score.
    await client.write(manualCommand([0x32, 0x03, 0x00, 0xc8, 0x01, 0x01]));
    expect(await client.ack(8)).toMatchObject({ code: 0x00, params: hex('0100000000') });
    expect(await client.ack(8)).toMatchObject({ code: 0x00, params: hex('0200000000') });
    const found = await client.ack(8);
    expect(found.code).toBe(0x00);
    expect([found.params[0], found.params.readUInt16BE(1)]).toEqual([3, 7]);
    // A stranger, one failed search allowed: 09h at step 3.
    emulator.placeFinger(syntheticFinger('manual-auto-stranger'));
    await client.write(manualCommand([0x32, 0x03, 0x00, 0xc8, 0x00, 0x01]));
    expect(await client.ack(8)).toMatchObject({ code: 0x09, params: hex('0300000000') });
    // No finger: Cancel stops AutoIdentify while it waits (26h at step 1), then is answered 00.
    emulator.placeFinger(undefined);
    await client.write(manualCommand([0x32, 0x03, 0x00, 0xc8, 0x00, 0x00]));
    await client.write(manualCommand([0x30]));
    expect(await client.ack(8)).toMatchObject({ code: 0x26, params: hex('0100000000') });
    expect((await client.ack(3)).code).toBe(0x00);
  });

  it('answers errors, the notepad, the system parameters, the password and the address as the manual says', async () => {
    const { emulator, client } = await rig();

    // An instruction code the module does not have: FCh "unsupported command" (R503 manual).
    expect((await client.command(manualCommand([0x50]))).code).toBe(0xfc);
    // A damaged package (checksum off by one): 01h "error when receiving package".
    const damaged = Buffer.from(GEN_IMG);
    damaged[damaged.length - 1] = 0x06;
    expect((await client.command(damaged)).code).toBe(0x01);
    // Img2Tz without its buffer number: the package is malformed, 01h.
    expect((await client.command(manualCommand([0x02]))).code).toBe(0x01);
    // No image yet: Img2Tz is 15h, UpImage 0Fh; Store beyond the library 0Bh; DeletChar 0 templates 10h.
    expect((await client.command(IMG2TZ_1)).code).toBe(0x15);
    expect((await client.command(UP_IMAGE)).code).toBe(0x0f);
    expect((await client.command(manualCommand([0x06, 0x01, 0x00, 0xc8]))).code).toBe(0x0b);
    expect((await client.command(manualCommand([0x0c, 0x00, 0x00, 0x00, 0x00]))).code).toBe(0x10);
    // A low-quality finger images, but has too few feature points (07h).
    emulator.placeFinger(syntheticFinger('manual-dry', 'low'));
    expect((await client.command(GEN_IMG)).code).toBe(0x00);
    expect((await client.command(IMG2TZ_1)).code).toBe(0x07);
    // Two different fingers do not combine (0Ah) and do not match (08h).
    emulator.placeFinger(syntheticFinger('manual-a'));
    await client.command(GEN_IMG);
    await client.command(IMG2TZ_1);
    emulator.placeFinger(syntheticFinger('manual-b'));
    await client.command(GEN_IMG);
    await client.command(IMG2TZ_2);
    expect((await client.command(REG_MODEL)).code).toBe(0x0a);
    expect((await client.command(MATCH, 5)).code).toBe(0x08);

    // Notepad: page 0–15 of 32 bytes; page 16 is 1Ch.
    const note = Buffer.alloc(32, 0x5a);
    expect((await client.command(manualCommand([0x18, 0x07, ...note]))).code).toBe(0x00);
    expect(await client.command(manualCommand([0x19, 0x07]), 0x23)).toMatchObject({
      code: 0x00,
      params: note,
    });
    expect((await client.command(manualCommand([0x19, 0x10]), 3)).code).toBe(0x1c);

    // SetSysPara: security level 5 (register 5); register 9 is 1Ah; packet size code 0 = 32 bytes.
    expect((await client.command(manualCommand([0x0e, 0x05, 0x05]))).code).toBe(0x00);
    expect((await client.command(manualCommand([0x0e, 0x09, 0x01]))).code).toBe(0x1a);
    expect((await client.command(manualCommand([0x0e, 0x06, 0x00]))).code).toBe(0x00);
    const parameters = await client.command(READ_SYS_PARA, 0x13);
    expect(parameters.params.readUInt16BE(6)).toBe(5);
    expect(parameters.params.readUInt16BE(12)).toBe(0);
    await client.command(manualCommand([0x07, 0x01, 0x00, 0x00])); // nothing at page 0: 0Ch
    await client.command(UP_CHAR_1);
    expect((await client.data()).sizes).toEqual(Array<number>(16).fill(32));

    // R503 additions: AuraLedConfig (breathing, speed 0x20, blue, forever), CheckSensor, HandShake.
    expect((await client.command(manualCommand([0x35, 0x01, 0x20, 0x02, 0x00]))).code).toBe(0x00);
    expect(emulator.auraLed).toEqual({ control: 1, speed: 0x20, color: 2, cycles: 0 });
    expect((await client.command(manualCommand([0x36]))).code).toBe(0x00);
    expect((await client.command(manualCommand([0x40]))).code).toBe(0x00);
    // Control: port on/off.
    expect((await client.command(manualCommand([0x17, 0x00]))).code).toBe(0x00);
    expect((await client.command(manualCommand([0x17, 0x02]))).code).toBe(0x1d);

    // SetPwd, then a power cycle: every instruction is 21h until VfyPwd with the new password.
    expect((await client.command(manualCommand([0x12, 0x00, 0x00, 0x12, 0x34]))).code).toBe(0x00);
    await emulator.stop();
    await emulator.start();
    expect((await client.command(TEMPLETE_NUM)).code).toBe(0x21);
    expect((await client.command(VFY_PWD_0)).code).toBe(0x13);
    expect((await client.command(manualCommand([0x13, 0x00, 0x00, 0x12, 0x34]))).code).toBe(0x00);
    expect((await client.command(TEMPLETE_NUM, 5)).code).toBe(0x00);

    // SetAdder: the acknowledge comes from the new address; the old one is no longer answered.
    const setAdder = await client.command(manualCommand([0x15, 0x12, 0x34, 0x56, 0x78]));
    expect(setAdder).toMatchObject({ code: 0x00, address: 0x12345678 });
    await client.write(TEMPLETE_NUM);
    expect(await client.silentFor(300)).toBe(true);
    const addressed = await client.command(manualCommand([0x1d], 0x01, 0x12345678), 5);
    expect(addressed).toMatchObject({ code: 0x00, address: 0x12345678 });
  });

  it('fuzz: any well-formed command package gets exactly one acknowledge with a code the manual lists', async () => {
    const { emulator, client } = await rig();
    emulator.placeFinger(syntheticFinger('manual-fuzz'));
    // AutoEnroll/AutoIdentify answer in several steps and Cancel only matters beside them: their
    // own test covers them, as the flows test covers the 36 KiB UpImage. Every other code, known
    // or not, with parameters of any length, and known codes with lengths they may take.
    const skipped = new Set([0x0a, 0x30, 0x31, 0x32]);
    const known = Object.values(fingerprintProtocol.INSTRUCTION).filter((code) => !skipped.has(code));
    const anyCode = fc.tuple(
      fc.integer({ min: 0, max: 0xff }).filter((code) => !skipped.has(code)),
      fc.uint8Array({ maxLength: 40 }),
    );
    const knownCode = fc.tuple(
      fc.constantFrom(...known),
      fc
        .constantFrom(0, 1, 2, 3, 4, 5, 33)
        .chain((length) => fc.uint8Array({ minLength: length, maxLength: length })),
    );
    const packages = fc.array(
      fc.oneof(anyCode, knownCode).map(([code, args]) => [code, ...args]),
      { minLength: 200, maxLength: 200 },
    );
    const [contents] = fc.sample(packages, { numRuns: 1, seed: Number(process.env.FUZZ_SEED ?? 11) });
    let address = 0xffffffff;
    for (const command of contents ?? []) {
      await client.write(manualCommand(command, 0x01, address));
      const answer = await client.next();
      expect(answer.pid).toBe(0x07);
      const code = answer.contents[0] as number;
      expect(fingerprintProtocol.CONFIRMATION[code], `code ${code} for ${command.join(',')}`).toBeDefined();
      if (code !== 0x00) continue;
      if (command[0] === 0x08) await client.data(); // UpChar: the template follows
      if (command[0] === 0x15) address = answer.address; // SetAdder: the module moved
    }
    expect(await client.silentFor(100)).toBe(true);
  });
});

/**
 * bench/card pickup read: what the pickup reads (DG1, DG2 of 20 KB, DG13, DG14, DG15, EF.SOD) with
 * the production `readCard` (PACE-CAN, CA, PA) from the chip emulator, over a modelled ISO/IEC
 * 14443-4 link. Nothing sleeps: the link time is computed from the bytes each APDU puts on the air,
 * and the terminal's own time is measured.
 *
 * Link model (ISO/IEC 14443-3/-4, Type A):
 * - every byte costs 9 bits (8 data + odd parity) at the bit rate; each frame adds PCB + CRC_A
 *   (3 bytes) and SOF/EOF (2 bits);
 * - frames carry at most FSD = FSC = 256 bytes; a longer APDU is chained, each block answered by
 *   an R(ACK) (3 bytes) from the other side;
 * - every frame waits the minimum frame delay time (FDT ≈ 1236 / fc ≈ 91 µs);
 * - per APDU the chip takes TURNAROUND_MS (OS dispatch, SM check, file access); each EC scalar
 *   multiplication or signature on the chip takes CHIP_EC_OP_MS (PACE map: 2, PACE key
 *   agreement: 2, CA: 1, AA: 1), typical of current secure microcontrollers.
 * Figures: p95 over RUNS reads of (link time + the terminal's measured CPU time; the emulator's
 * CPU time is taken out, since the model stands in for the chip), APDU count ÷ minimum, and the
 * terminal's CPU ms for the whole read (PACE + CA + SM + PA), median.
 */
import { createHash } from 'node:crypto';
import { parseTrustList } from '../../src/card/pa.js';
import { readCard } from '../../src/card/reader.js';
import { type CardTransport } from '../../src/card/transport.js';
import { buildChipImage, syntheticJpeg } from '../../devices/card-reader/chip-image.js';
import { ChipEmulator } from '../../devices/card-reader/emulator.js';
import { createTestPki } from '../../src/demo/test-pki.js';
import { TRAN_THI_MAI } from '../../src/demo/sample-record.js';

const RUNS = 40;
const TURNAROUND_MS = 3;
const CHIP_EC_OP_MS = 40;
const FRAME_SIZE = 256;
const FDT_MS = 1236 / 13_560;
/** short-length chip (JMRTD's SM Le 223): the figures; an extended-length chip (Le 1024): info */
const CHIPS = [
  { label: 'short-length chip (Le 223)', extendedLength: false, maxLe: 0xdf, figures: true },
  { label: 'extended-length chip (Le 1024)', extendedLength: true, maxLe: 1024, figures: false },
] as const;

function frameMs(bytes: number, bitRate: number): number {
  return (((bytes + 3) * 9 + 2) / bitRate) * 1000 + FDT_MS;
}

/** Air time of one message of `length` bytes, chained in FSC-sized blocks with R(ACK)s. */
function messageMs(length: number, bitRate: number): number {
  const payload = FRAME_SIZE - 3;
  const blocks = Math.max(1, Math.ceil(length / payload));
  let ms = 0;
  for (let i = 0; i < blocks; i++) ms += frameMs(Math.min(payload, length - i * payload), bitRate);
  return ms + (blocks - 1) * frameMs(0, bitRate);
}

/** Wraps the emulator: counts APDUs, sums modelled link time, keeps the chip's CPU apart. */
class ModelledLink implements CardTransport {
  apdus = 0;
  chipMicros = 0;
  bytes: Array<[number, number]> = [];
  ecOps = 0;
  private plainGeneralAuthenticates = 0;
  constructor(private readonly chip: ChipEmulator) {}
  async transmit(command: Uint8Array): Promise<Uint8Array> {
    this.apdus++;
    if (command[1] === 0x86) {
      if ((command[0]! & 0x0c) === 0x0c)
        this.ecOps += 1; // CA under SM
      else if ([2, 3].includes(++this.plainGeneralAuthenticates)) this.ecOps += 2; // map, agree
    }
    if (command[1] === 0x88) this.ecOps += 1;
    const start = process.cpuUsage();
    const answer = this.chip.process(command);
    const used = process.cpuUsage(start);
    this.chipMicros += used.user + used.system;
    this.bytes.push([command.length, answer.length]);
    return answer;
  }
  linkMs(bitRate: number): number {
    return (
      this.bytes.reduce(
        (sum, [out, back]) => sum + messageMs(out, bitRate) + messageMs(back, bitRate) + TURNAROUND_MS,
        0,
      ) +
      this.ecOps * CHIP_EC_OP_MS
    );
  }
  async close(): Promise<void> {}
}

const pki = createTestPki();
const trustAnchors = parseTrustList(pki.trustListPem);
const image = buildChipImage({
  record: TRAN_THI_MAI,
  pki,
  face: syntheticJpeg(20 * 1024 - 64), // DG2 of 20 KB with its biometric headers
  access: 'pace-only',
  activeAuthentication: 'ec',
});
const can = TRAN_THI_MAI.idNumber.slice(-6);

async function readOnce(chip: (typeof CHIPS)[number]) {
  const link = new ModelledLink(
    new ChipEmulator(image, { extendedLength: chip.extendedLength, maxReadLength: chip.maxLe }),
  );
  const start = process.cpuUsage();
  const result = await readCard(link, {
    access: { kind: 'can', can },
    accessPolicy: 'require-pace',
    trustAnchors,
    dataGroups: [1, 2, 13, 14, 15],
  });
  const used = process.cpuUsage(start);
  if (!result.authenticity.authentic) throw new Error('the bench chip did not read as authentic');
  return { link, result, terminalMs: (used.user + used.system - link.chipMicros) / 1000 };
}

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!;

for (const chip of CHIPS) {
  for (let i = 0; i < 5; i++) await readOnce(chip); // warm-up: JIT, curve tables
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await readOnce(chip));
  const first = runs[0]!;
  // Minimum APDUs: SELECT + ⌈size / Le⌉ READ BINARY per file the pickup needs (EF.CardAccess,
  // the five data groups, EF.SOD; a read that names its data groups needs no EF.COM), MSE + 4
  // GENERAL AUTHENTICATE for PACE, SELECT of the application, MSE + GENERAL AUTHENTICATE for CA.
  const files = [
    image.files.get(0x011c)!,
    ...[1, 2, 13, 14, 15].map((dg) => first.result.dataGroups.get(dg)!),
    first.result.sod,
  ];
  const minimum = files.reduce((sum, f) => sum + 1 + Math.ceil(f.length / chip.maxLe), 0) + 5 + 1 + 2;
  const sizes = [1, 2, 13, 14, 15]
    .map((dg) => `DG${dg} ${first.result.dataGroups.get(dg)!.length} B`)
    .join(', ');
  const prefix = chip.figures ? 'figure: ' : `# ${chip.label}: `;
  console.log(`# ${chip.label}: ${sizes}, SOD ${first.result.sod.length} B; ${first.link.apdus} APDUs`);
  console.log(
    `# link model: 9 bits/byte, FSC 256, FDT ${FDT_MS.toFixed(3)} ms, turnaround ${TURNAROUND_MS} ms/APDU, ${first.link.ecOps} chip EC ops × ${CHIP_EC_OP_MS} ms`,
  );
  for (const [rate, target] of [
    [424_000, 1500],
    [106_000, 3000],
  ] as const) {
    const totals = runs.map((r) => r.link.linkMs(rate) + r.terminalMs);
    console.log(
      `${prefix}full pickup read at ${rate / 1000} kbit/s, p95: ${Math.round(percentile(totals, 95))} ms (target: ≤ ${target} ms)`,
    );
    console.log(
      `# of which link + chip model: ${Math.round(first.link.linkMs(rate))} ms at ${rate / 1000} kbit/s`,
    );
  }
  console.log(
    `${prefix}pickup read APDUs / minimum: ${(first.link.apdus / minimum).toFixed(3)} (${first.link.apdus}/${minimum}) (target: ≤ 1.05)`,
  );
  const cpu = percentile(
    runs.map((r) => r.terminalMs),
    50,
  );
  console.log(
    `${prefix}terminal CPU ms for PACE + CA + SM reads + PA, median: ${cpu.toFixed(1)} (target: ≤ 40 ms)`,
  );
  if (chip.figures) {
    // Baseline in the same run: hashing the same payload bytes once, no protocol at all.
    const start = process.cpuUsage();
    for (const f of files) createHash('sha256').update(f).digest();
    const used = process.cpuUsage(start);
    console.log(
      `# baseline: SHA-256 of the same ${files.reduce((s, f) => s + f.length, 0)} payload bytes: ${((used.user + used.system) / 1000).toFixed(2)} ms`,
    );
  }
}

/**
 * bench/card: DG1 + EF.SOD + a 15 KB DG2 read from the chip emulator.
 * - APDUs sent ÷ the minimum for the chip's maximum Le (one SELECT + ⌈size / maxLe⌉ READ BINARY
 *   per file), for a short-length chip and an extended-length one.
 * - the runtime's CPU time (process.cpuUsage, the emulator's own share subtracted) for BAC + secure
 *   messaging + passive authentication, median of 25 reads; beside it, as the in-process baseline,
 *   the CPU time of the same reads' payload bytes hashed and copied without any of it.
 */
import { createHash } from 'node:crypto';
import { performBac } from '../../src/card/bac.js';
import { CountingTransport, PlainChannel, SecureChannel } from '../../src/card/channel.js';
import { FileReader, LDS_FILES, selectApplication } from '../../src/card/files.js';
import { parseTrustList, verifyPassiveAuthentication } from '../../src/card/pa.js';
import { SecureMessaging } from '../../src/card/sm.js';
import { type CardTransport } from '../../src/card/transport.js';
import { buildChipImage, syntheticJpeg } from '../../devices/card-reader/chip-image.js';
import { ChipEmulator, type ChipEmulatorOptions } from '../../devices/card-reader/emulator.js';
import { createTestPki } from '../../src/demo/test-pki.js';
import { TRAN_THI_MAI } from '../../src/demo/sample-record.js';

const pki = createTestPki();
const trust = parseTrustList(pki.trustListPem);
// DG2's own headers take ~60 bytes; the whole file is 15 KB.
const image = buildChipImage({
  record: TRAN_THI_MAI,
  pki,
  face: syntheticJpeg(15 * 1024 - 64),
  activeAuthentication: false,
});
const FILES = [
  ['DG1', LDS_FILES.DG1],
  ['EF.SOD', LDS_FILES.SOD],
  ['DG2', LDS_FILES.DG2],
] as const;

/** The chip's CPU time is not the runtime's: measure it apart and subtract it. */
class TimedChip implements CardTransport {
  chipMicros = 0;
  constructor(readonly chip: ChipEmulator) {}
  async transmit(command: Uint8Array): Promise<Uint8Array> {
    const start = process.cpuUsage();
    const answer = this.chip.process(command);
    const used = process.cpuUsage(start);
    this.chipMicros += used.user + used.system;
    return answer;
  }
  async close(): Promise<void> {}
}

async function readOnce(options: ChipEmulatorOptions) {
  const chip = new TimedChip(new ChipEmulator(image, options));
  const counting = new CountingTransport(chip);
  const start = process.cpuUsage();
  const plain = new PlainChannel(counting);
  await selectApplication(plain);
  const session = await performBac(plain, image.bacKey);
  const reader = new FileReader(new SecureChannel(counting, new SecureMessaging(session)));
  const before = counting.count;
  const files = new Map<number, Buffer>();
  for (const [name, fid] of FILES) files.set(fid, await reader.read(name, fid));
  const readApdus = counting.count - before;
  const verdict = verifyPassiveAuthentication({
    sod: files.get(LDS_FILES.SOD)!,
    dataGroups: new Map([
      [1, files.get(LDS_FILES.DG1)!],
      [2, files.get(LDS_FILES.DG2)!],
    ]),
    trustAnchors: trust,
  });
  const used = process.cpuUsage(start);
  if (!verdict.passed) throw new Error('passive authentication failed in the bench');
  return {
    files,
    readApdus,
    maxLe: reader.currentLe,
    runtimeMs: (used.user + used.system - chip.chipMicros) / 1000,
  };
}

function baselineMs(files: Map<number, Buffer>): number {
  const start = process.cpuUsage();
  for (const bytes of files.values()) createHash('sha256').update(Buffer.from(bytes)).digest();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const [label, options] of [
  ['short-length chip (Le ≤ 223)', { extendedLength: false, maxReadLength: 0xdf }],
  ['extended-length chip (Le ≤ 1024)', { extendedLength: true, maxReadLength: 1024 }],
] as const) {
  for (let i = 0; i < 5; i++) await readOnce(options); // warm-up: JIT, key schedules
  const runs = [];
  for (let i = 0; i < 25; i++) runs.push(await readOnce(options));
  const first = runs[0]!;
  const minimum = FILES.reduce(
    (sum, [, fid]) => sum + 1 + Math.ceil(first.files.get(fid)!.length / options.maxReadLength),
    0,
  );
  const sizes = FILES.map(([name, fid]) => `${name} ${first.files.get(fid)!.length} B`).join(', ');
  const runtime = median(runs.map((r) => r.runtimeMs));
  const baseline = median(runs.map((r) => baselineMs(r.files)));
  console.log(`# ${label}: ${sizes}; Le learned ${first.maxLe}`);
  console.log(
    `apdus sent / minimum (${label}): ${(first.readApdus / minimum).toFixed(3)} (${first.readApdus}/${minimum}) (target: <= 1.05)`,
  );
  console.log(`cpu ms for BAC + SM + PA (${label}): ${runtime.toFixed(2)} (target: <= 30)`);
  console.log(
    `cpu ratio vs hashing the same bytes (${label}): ${(runtime / Math.max(baseline, 0.001)).toFixed(1)}x (baseline ${baseline.toFixed(3)} ms; info)`,
  );
}

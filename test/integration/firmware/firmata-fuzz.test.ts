/**
 * Whatever bytes the host sends, the real firmware (in simavr) keeps answering: fast-check
 * generates arbitrary byte strings — truncated and oversized sysex, stray data bytes, unknown
 * commands, any mix — and after each the board must still answer a REPORT_VERSION query.
 */
import fc from 'fast-check';
import { createSerialPort, type SerialPortHandle } from '../../../devices/transport/serial-port.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FirmwareSim, startFirmwareSim } from './firmware-sim.js';

const REPORT_VERSION = 0xf9;
const END_SYSEX = 0xf7;
const SYSTEM_RESET = 0xff;
const VERSION_REPLY = Buffer.from([REPORT_VERSION, 2, 5]);

let sim: FirmwareSim;
let port: SerialPortHandle;
let received = Buffer.alloc(0);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function versionReplyAfter(offset: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (received.indexOf(VERSION_REPLY, offset) >= 0) return true;
    await sleep(5);
  }
  return false;
}

beforeAll(async () => {
  sim = await startFirmwareSim();
  port = createSerialPort({ path: sim.ptyPath, baudRate: 57600 });
  port.open();
  port.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  await new Promise<void>((resolve, reject) => port.once('open', () => resolve()).once('error', reject));
  expect(await versionReplyAfter(0, 5000)).toBe(true); // the boot announcement
});

afterAll(async () => {
  if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  await sim?.stop();
});

describe('dispenser firmware under arbitrary input', () => {
  it('answers a version query after any garbage', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), async (garbage) => {
        port.write(Buffer.from(garbage));
        await sleep(150); // let the replies the garbage itself asked for arrive first
        const offset = received.length;
        // END_SYSEX closes a sysex the garbage left open (else the query would be sysex data);
        // SYSTEM_RESET stops any reporting the garbage turned on
        port.write(Buffer.from([END_SYSEX, SYSTEM_RESET, REPORT_VERSION]));
        // generous: garbage may have queued many replies (each capability response is 150 bytes)
        return versionReplyAfter(offset, 10_000);
      }),
      { numRuns: 30 },
    );
    expect(sim.process.exitCode).toBeNull();
  });
});

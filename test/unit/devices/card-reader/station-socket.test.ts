import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PcscChipStation } from '../../../../devices/card-reader/station.js';

/**
 * pcsc-lite reads its pcscd socket (PCSCLITE_CSOCK_NAME) once per process and keeps it. A second
 * chip station asking for another socket in the same process would silently talk to the first
 * pcscd; it says so in its health instead. (No pcscd listens on either socket here: the first
 * station just retries, which is all this needs.)
 */
const dir = mkdtempSync(join(tmpdir(), 'station-socket-'));
const first = new PcscChipStation({ pcscdSocket: join(dir, 'a.comm'), reconnectMs: 60_000 });
const second = new PcscChipStation({ pcscdSocket: join(dir, 'b.comm') });
afterAll(async () => {
  await first.stop();
  await second.stop();
});

it('a second pcscd socket in one process is reported, not silently ignored', async () => {
  await first.start();
  expect(first.healthDetail).not.toMatch(/another pcscd socket/);
  await second.start();
  expect(second.health).toBe('missing');
  expect(second.healthDetail).toContain(join(dir, 'a.comm'));
});

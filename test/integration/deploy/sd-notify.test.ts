/**
 * The runtime's READY=1 reaches a NOTIFY_SOCKET datagram socket through the real `systemd-notify`
 * (socat plays systemd's end). systemd-notify then waits for its barrier, which socat never
 * releases, so the message costs its 5 s barrier timeout here (systemd releases it at once) and
 * ends with a barrier error that the test tolerates and nothing else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../../src/util/sd-notify.js';

describe('sd_notify through systemd-notify', () => {
  let receiver: ChildProcess | undefined;
  afterAll(() => {
    receiver?.kill('SIGTERM');
  });

  it('delivers READY=1 and the status line to NOTIFY_SOCKET', async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'notify-')), 'notify.sock');
    const listening = spawn('socat', ['-u', `UNIX-RECV:${socket}`, 'STDOUT'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    receiver = listening;
    let received = '';
    listening.stdout?.on('data', (chunk: Buffer) => {
      received += chunk.toString();
    });
    const deadline = Date.now() + 5000;
    while (!existsSync(socket) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
    const errors: Error[] = [];
    const notifier = new SystemdNotifier({ NOTIFY_SOCKET: socket }, undefined, (error) => errors.push(error));
    await notifier.ready('kiosk hn-0001 running');
    // socat is not systemd: it never answers the barrier, so systemd-notify reports a barrier
    // timeout after sending. Any other failure (no binary, no socket) fails the test.
    for (const error of errors) expect(error.message).toMatch(/Failed to invoke barrier/);
    expect(received).toContain('READY=1');
    expect(received).toContain('STATUS=kiosk hn-0001 running');
  });
});

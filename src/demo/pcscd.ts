/**
 * A private pcscd with one vsmartcard vpcd reader, for the demo rig and the tests.
 *
 * pcsc-lite 1.9's daemon always listens on /run/pcscd/pcscd.comm unless it is socket-activated,
 * so it is started through `systemd-socket-activate` on a socket of our own: several rigs (and a
 * system pcscd) can run side by side. Clients find it through pcsc-lite's own variable
 * PCSCLITE_CSOCK_NAME (the kiosk's `devices.cardReader.pcscdSocket`). The chip emulator becomes
 * the virtual card by connecting to vpcd's port (devices/card-reader/vpcd.ts). Runs under
 * `setpriv --pdeathsig KILL`, so it dies with the process that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';

/** vpcd's first slot as pcscd names it (FRIENDLYNAME "Virtual PCD", slot 00 00) */
export const VPCD_READER_NAME = 'Virtual PCD 00 00';

export interface PrivatePcscd {
  /** vpcd's TCP port: a virtual card connects here to be inserted */
  readonly vpcdPort: number;
  /** pcscd's client socket (PCSCLITE_CSOCK_NAME) */
  readonly socketPath: string;
  readonly running: boolean;
  /** the daemon's recent output (debug log), for failure messages */
  output(): string;
  /** stops the daemon: its reader disappears for every client */
  stop(): Promise<void>;
  /** starts it again on the same socket and vpcd port */
  restart(): Promise<void>;
}

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function connects(connect: (socket: Socket) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = new Socket();
    probe.once('error', () => resolve(false));
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    connect(probe);
  });
}

export async function startPcscd(dir: string, startTimeoutMs = 15_000): Promise<PrivatePcscd> {
  const confDir = join(dir, 'reader.conf.d');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(confDir, { recursive: true });
  const socketPath = join(dir, 'pcscd.comm');
  const vpcdPort = await freeTcpPort();
  const hexPort = `0x${vpcdPort.toString(16).toUpperCase()}`;
  writeFileSync(
    join(confDir, 'vpcd'),
    `FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:${hexPort}\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID ${hexPort}\n`,
  );
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const launch = async () => {
    rmSync(socketPath, { force: true });
    const started = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'KILL',
        'systemd-socket-activate',
        '--listen',
        socketPath,
        'pcscd',
        '--foreground',
        '--debug',
        '--config',
        confDir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = started;
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
    started.stdout?.on('data', keep);
    started.stderr?.on('data', keep);
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    const deadline = Date.now() + startTimeoutMs;
    // systemd-socket-activate execs pcscd on the first connection; vpcd listens once pcscd loaded it
    for (;;) {
      if (started.exitCode !== null) throw new Error(`pcscd exited ${started.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`pcscd/vpcd did not come up on ${vpcdPort}:\n${output}`);
      await connects((probe) => probe.connect(socketPath));
      if (await connects((probe) => probe.connect(vpcdPort, '127.0.0.1'))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const halt = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    running.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
    if (running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
    await exited;
  };

  await launch();
  return {
    vpcdPort,
    socketPath,
    get running() {
      return child !== undefined && child.exitCode === null;
    },
    output: () => output,
    stop: halt,
    async restart() {
      await halt();
      await launch();
    },
  };
}

import { SerialPort } from 'serialport';
import type { WireTap } from '../../devices/index.js';

/**
 * simavr owns its UART's pty, so the bytes cannot be timestamped inside the device as the Node
 * emulators' ports do. This relay sits on the device's side of the host's pty instead: the host
 * opens the socat pty whose other end is `hostFacingPath`; the relay copies bytes between it and
 * the simulator's pty, stamping each chunk as it leaves the host (rx) and as it leaves the
 * simulator (tx). The relay's own hop toward the simulator counts as device time and its hop
 * back toward the host as host time, so the host's figure carries one extra pty hop: it is an
 * upper bound.
 */
export interface PtyRelay {
  close(): Promise<void>;
}

async function open(path: string, baudRate: number): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, autoOpen: false, lock: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  port.on('error', () => undefined); // torn down at the end of the run
  return port;
}

export async function startPtyRelay(
  hostFacingPath: string,
  devicePath: string,
  baudRate: number,
  tap: WireTap,
): Promise<PtyRelay> {
  const [host, device] = await Promise.all([open(hostFacingPath, baudRate), open(devicePath, baudRate)]);
  host.on('data', (bytes: Buffer) => {
    tap({ direction: 'rx', at: performance.now(), bytes });
    device.write(bytes);
  });
  device.on('data', (bytes: Buffer) => {
    tap({ direction: 'tx', at: performance.now(), bytes });
    host.write(bytes);
  });
  return {
    async close() {
      for (const port of [host, device])
        if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}

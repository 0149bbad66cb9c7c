import { read } from 'node:fs';
import { promisify } from 'node:util';
import {
  BindingsError,
  LinuxBinding,
  type LinuxBindingInterface,
  type LinuxOpenOptions,
  type LinuxPortBinding,
} from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';

const readAsync = promisify(read);

/** A serial port as the drivers and emulators open it: serialport's stream over `HangupAwareBinding`. */
export type SerialPortHandle = SerialPortStream<LinuxBindingInterface>;

/** Opens nothing yet (`autoOpen: false`): the caller calls `open()` and handles the error. */
export function createSerialPort(options: LinuxOpenOptions): SerialPortHandle {
  return new SerialPortStream({ binding: HangupAwareBinding, autoOpen: false, lock: false, ...options });
}

/**
 * serialport's Linux binding with one change: a read that returns 0 bytes is a hang-up.
 *
 * bindings-cpp 13 (`unix-read.ts`) answers a 0-byte read by reading again at once, forever
 * (serialport/bindings-cpp#162; the fix, #164, was never released). The port is opened raw with
 * VMIN=1 and O_NONBLOCK, so read(2) says "no data yet" with EAGAIN and returns 0 only at end of
 * file, which is how Linux reports a hung-up tty: a USB serial adapter pulled out, or the master
 * side of a pty closed (termios(3), "Canonical and noncanonical mode"; tty hang-up makes every
 * later read return 0). When the hang-up wakes the poller before the kernel has finished it, the
 * first read sees 0 rather than EIO, and the stock binding then spins a threadpool thread and
 * never reports the disconnect: the device stays "ok" while unplugged.
 */
export const HangupAwareBinding: LinuxBindingInterface = {
  list: () => LinuxBinding.list(),
  async open(options) {
    const port = await LinuxBinding.open(options);
    port.read = (buffer, offset, length) => readUntilDataOrHangup(port, buffer, offset, length);
    return port;
  },
};

async function readUntilDataOrHangup(
  port: LinuxPortBinding,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ buffer: Buffer; bytesRead: number }> {
  if (buffer.length < offset + length) throw new RangeError('buffer is too small');
  for (;;) {
    const fd = port.fd;
    if (fd === null) throw new BindingsError('Port is not open', { canceled: true });
    const bytesRead = await readOrWouldBlock(fd, buffer, offset, length);
    if (bytesRead === 0) throw new BindingsError('the device hung up (end of file on the tty)');
    if (bytesRead > 0) return { buffer, bytesRead };
    // closed while the read was in the threadpool: its poller is destroyed, and polling it aborts
    if (port.fd === null) throw new BindingsError('Port is not open', { canceled: true });
    await new Promise<void>((resolve, reject) =>
      port.poller.once('readable', (error) => (error ? reject(error) : resolve())),
    );
  }
}

/** The bytes read, or -1 when there is nothing to read yet (EAGAIN, EWOULDBLOCK, EINTR). */
async function readOrWouldBlock(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  try {
    return (await readAsync(fd, buffer, offset, length, null)).bytesRead;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return -1;
    throw error;
  }
}

import { Socket } from 'node:net';
import { type ChipEmulator } from './emulator.js';
import {
  EMULATED_ATR,
  FrameDecoder,
  VPCD_CTRL_ATR,
  VPCD_CTRL_OFF,
  VPCD_CTRL_ON,
  VPCD_CTRL_RESET,
  VPCD_DEFAULT_PORT,
  encodeFrame,
} from './protocol.js';

/**
 * Puts the chip emulator behind a real PC/SC reader: it connects to the vpcd driver loaded by
 * pcscd, as vsmartcard's `vicc` does. Connecting is inserting the card; `remove()` takes it out.
 */
export class VpcdCard {
  private socket: Socket | undefined;
  private readonly decoder = new FrameDecoder();
  /** control messages and APDUs seen, for tests */
  readonly seen = { control: [] as number[], apdus: 0 };

  constructor(
    private readonly chip: ChipEmulator,
    private readonly port = VPCD_DEFAULT_PORT,
    private readonly host = '127.0.0.1',
  ) {}

  /** Connects to vpcd (the card appears in the reader). */
  insert(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.connect(this.port, this.host, () => {
        socket.off('error', reject);
        socket.on('error', () => socket.destroy());
        resolve();
      });
      socket.on('data', (chunk) => this.onData(socket, chunk));
      this.socket = socket;
    });
  }

  private onData(socket: Socket, chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      if (frame.length === 1) {
        const control = frame[0]!;
        this.seen.control.push(control);
        if (control === VPCD_CTRL_ATR) socket.write(encodeFrame(EMULATED_ATR));
        else if (control === VPCD_CTRL_OFF || control === VPCD_CTRL_ON || control === VPCD_CTRL_RESET)
          this.chip.reset();
        continue;
      }
      this.seen.apdus++;
      socket.write(encodeFrame(this.chip.process(frame)));
    }
  }

  /** Closes the socket (the card leaves the reader). */
  async remove(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }
}

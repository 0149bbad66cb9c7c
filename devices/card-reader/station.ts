import { EventEmitter } from 'node:events';
import type { LinkHealth } from '../transport/serial.js';
import { CardTransportError } from '../../src/card/errors.js';
import type { CardTransport } from '../../src/card/transport.js';
import { PcscCardReader } from './driver.js';

export interface PcscChipStationOptions {
  /** which PC/SC reader is the chip station's: a substring of its name; absent: the first reader */
  reader?: string;
  /** how long a read waits for the card the dispenser just moved to the station to be seen */
  cardWaitMs?: number;
  /**
   * pcscd's client socket. pcsc-lite reads it from PCSCLITE_CSOCK_NAME once per process, so it is
   * set before the first PC/SC context; absent: the system's default socket.
   */
  pcscdSocket?: string;
  /** pause before reopening the PC/SC context after pcscd went away (doubles up to 8×) */
  reconnectMs?: number;
}

export interface PcscChipStationEvents {
  health: [LinkHealth, string | undefined];
  /** a card came into / left the chip station's reader (the dispenser moved it) */
  card: [present: boolean];
}

/**
 * The pcscd socket pcsc-lite in this process talks to: the library reads PCSCLITE_CSOCK_NAME once,
 * on its first context, and keeps it for the life of the process. `null`: the system's default.
 */
let processPcscdSocket: string | null | undefined;

/**
 * The chip station's PC/SC reader as a managed device (health for the device manager, `kiosk
 * doctor` and the session's out-of-service rule).
 *
 * - The reader is picked by name from the readers pcscd reports; health is `ok` while it is
 *   there (the detail names it), `missing` when it is not, or when pcscd itself is gone.
 * - A reader unplugged and plugged back is seen through pcsc-lite's reader events; pcscd going
 *   away (stopped, restarted) ends the PC/SC context, so the station opens a new one every
 *   `reconnectMs` until pcscd answers again. No restart of the kiosk is needed for either.
 * - A read (`open()`) waits for the card to be present in the reader, then connects to it. A
 *   reader or card that goes away mid-read makes the next APDU fail with `CardTransportError`.
 */
export class PcscChipStation extends EventEmitter<PcscChipStationEvents> {
  private pcsc: PcscCardReader | undefined;
  private chosen: string | undefined;
  private cardPresent = false;
  private state: LinkHealth = 'missing';
  private detail: string | undefined = 'not started';
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  private running = false;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: PcscChipStationOptions = {}) {
    super();
    this.reconnectDelay = options.reconnectMs ?? 1000;
  }

  get health(): LinkHealth {
    return this.state;
  }

  get healthDetail(): string | undefined {
    return this.detail;
  }

  /** the PC/SC name of the reader in use, when there is one */
  get readerName(): string | undefined {
    return this.chosen;
  }

  get hasCard(): boolean {
    return this.cardPresent;
  }

  async start(): Promise<void> {
    const wanted = this.options.pcscdSocket ?? null;
    processPcscdSocket ??= wanted;
    if (processPcscdSocket !== wanted) {
      // pcsc-lite would silently keep talking to the first socket: say so instead of "no reader"
      this.set(
        'missing',
        `PC/SC already bound to another pcscd socket in this process (${processPcscdSocket ?? 'default'})`,
      );
      return;
    }
    this.running = true;
    if (wanted) process.env.PCSCLITE_CSOCK_NAME = wanted;
    await this.openContext();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.reconnectTimer);
    this.closeContext();
    this.set('missing', 'stopped');
  }

  /** Health is kept by pcsc-lite's events; the probe only reports it (there is no card to ask). */
  async probe(): Promise<void> {
    if (this.state !== 'ok') throw new CardTransportError(this.detail ?? 'no PC/SC reader');
  }

  /** A transport to the card at the station, once the reader sees it. */
  async open(): Promise<CardTransport> {
    const pcsc = this.pcsc;
    if (!pcsc || !this.chosen) throw new CardTransportError(this.detail ?? 'no PC/SC reader');
    await this.waitForCard(this.options.cardWaitMs ?? 5000);
    const reader = this.chosen;
    if (!reader) throw new CardTransportError('the PC/SC reader went away');
    return pcsc.connect(reader);
  }

  private waitForCard(ms: number): Promise<void> {
    if (this.cardPresent) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.cardPresent) finish();
        else if (!this.chosen) finish(new CardTransportError('the PC/SC reader went away'));
      };
      const timer = setTimeout(
        () => finish(new CardTransportError(`no card in the chip station's reader within ${ms} ms`)),
        ms,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.waiters.add(check);
    });
  }

  private notifyWaiters(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private matches(name: string): boolean {
    return this.options.reader === undefined || name.includes(this.options.reader);
  }

  private async openContext(): Promise<void> {
    const pcsc = new PcscCardReader();
    pcsc.on('reader', (name) => {
      if (this.chosen || !this.matches(name)) return;
      this.chosen = name;
      this.set('ok', `PC/SC reader "${name}"`);
    });
    pcsc.on('reader-removed', (name) => {
      if (name !== this.chosen) return;
      this.chosen = undefined;
      this.setCard(false);
      this.set('missing', `PC/SC reader "${name}" removed`);
      this.notifyWaiters();
      // another matching reader still there takes over
      const other = pcsc.readerNames.find((candidate) => this.matches(candidate));
      if (other) {
        this.chosen = other;
        this.set('ok', `PC/SC reader "${other}"`);
      }
    });
    pcsc.on('card-inserted', (name) => {
      if (name === this.chosen) this.setCard(true);
    });
    pcsc.on('card-removed', (name) => {
      if (name === this.chosen) this.setCard(false);
    });
    // the context's errors mean pcscd is gone (stopped or restarting): reopen until it is back
    pcsc.on('error', (error) => this.lostContext(pcsc, error.message));
    this.pcsc = pcsc;
    try {
      await pcsc.start();
      this.reconnectDelay = this.options.reconnectMs ?? 1000;
      if (!this.chosen) this.set('missing', this.wantedReader());
    } catch (error) {
      this.lostContext(pcsc, (error as Error).message);
    }
  }

  private wantedReader(): string {
    return this.options.reader === undefined
      ? 'no PC/SC reader'
      : `no PC/SC reader named like "${this.options.reader}"`;
  }

  private lostContext(pcsc: PcscCardReader, why: string): void {
    if (pcsc !== this.pcsc) return;
    this.closeContext(false);
    this.set('missing', `PC/SC service unavailable (${why})`);
    this.notifyWaiters();
    if (!this.running) return;
    clearTimeout(this.reconnectTimer);
    const base = this.options.reconnectMs ?? 1000;
    this.reconnectTimer = setTimeout(() => {
      if (this.running && !this.pcsc) void this.openContext();
    }, this.reconnectDelay);
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, base * 8);
  }

  /**
   * Drops the PC/SC context. `release` closes it natively (its threads are cancelled and joined):
   * right while pcscd is alive. After pcscd went away the context's threads end by themselves on
   * their failed calls, and joining a reader thread still inside pcsc-lite from the event loop
   * could block the whole process, so a dead context is only let go.
   */
  private closeContext(release = true): void {
    const pcsc = this.pcsc;
    this.pcsc = undefined;
    this.chosen = undefined;
    this.setCard(false);
    if (!pcsc) return;
    pcsc.removeAllListeners();
    // after stop() the wrapper drops late errors instead of throwing them
    pcsc.on('error', () => undefined);
    if (!release) return;
    try {
      pcsc.stop();
    } catch {
      // the context may already be dead with pcscd; nothing left to release
    }
  }

  private setCard(present: boolean): void {
    if (present === this.cardPresent) return;
    this.cardPresent = present;
    this.emit('card', present);
    this.notifyWaiters();
  }

  private set(state: LinkHealth, detail: string | undefined): void {
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this.emit('health', state, detail);
  }
}

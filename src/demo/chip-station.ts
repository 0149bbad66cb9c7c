/**
 * The rig's chip station: the card the dispenser emulator holds at its station becomes the card in
 * the private pcscd's vpcd reader. When the dispenser reports a card at the station, that card's
 * chip emulator connects to vpcd (the card is inserted, and the kiosk's PC/SC reader sees a real
 * card-present event); when the card leaves the station it disconnects (card removed).
 * `unplug()`/`replug()` take the whole reader away (pcscd stopped) and bring it back.
 */
import {
  type ChipEmulator,
  dispenserProtocol,
  type DispenserEmulator,
  VpcdCard,
} from '../../devices/index.js';
import type { Logger } from '../util/log.js';
import { type PrivatePcscd, startPcscd } from './pcscd.js';

/** how often the dispenser emulator's mechanics are looked at (it has no event for the station) */
const WATCH_MS = 20;

export class VirtualChipStation {
  private card: { slot: number; vpcd: VpcdCard } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private plugged = true;

  private constructor(
    readonly pcscd: PrivatePcscd,
    private readonly dispenser: DispenserEmulator,
    private readonly chips: ReadonlyMap<number, ChipEmulator>,
    private readonly log: Logger,
  ) {}

  static async start(
    dir: string,
    dispenser: DispenserEmulator,
    chips: ReadonlyMap<number, ChipEmulator>,
    log: Logger,
  ): Promise<VirtualChipStation> {
    const station = new VirtualChipStation(await startPcscd(dir), dispenser, chips, log);
    station.timer = setInterval(() => station.sync(), WATCH_MS);
    station.timer.unref();
    return station;
  }

  /** the slot whose card is in the reader now */
  get slotInReader(): number | undefined {
    return this.card?.slot;
  }

  private stationSlot(): number | undefined {
    if (!this.plugged || !this.pcscd.running) return undefined;
    if (this.dispenser.mechanicsState !== dispenserProtocol.MECH_STATE.atStation) return undefined;
    return this.dispenser.stationSlot;
  }

  private sync(): void {
    this.syncing = this.syncing.then(async () => {
      const slot = this.stationSlot();
      if (slot === this.card?.slot) return;
      await this.takeOut();
      const chip = slot === undefined ? undefined : this.chips.get(slot);
      if (slot === undefined || !chip) return;
      const vpcd = new VpcdCard(chip, this.pcscd.vpcdPort);
      try {
        await vpcd.insert();
        this.card = { slot, vpcd };
        this.log.debug({ slot }, 'chip station: card in the reader');
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'chip station: vpcd refused the card');
      }
    });
  }

  private async takeOut(): Promise<void> {
    const card = this.card;
    this.card = undefined;
    if (!card) return;
    await card.vpcd.remove();
    this.log.debug({ slot: card.slot }, 'chip station: card out of the reader');
  }

  /** The reader goes away (its pcscd stops), as a USB reader unplugged mid-read would. */
  async unplug(): Promise<void> {
    this.plugged = false;
    await this.syncing;
    await this.takeOut();
    await this.pcscd.stop();
  }

  async replug(): Promise<void> {
    await this.pcscd.restart();
    this.plugged = true;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.plugged = false;
    await this.syncing;
    await this.takeOut();
    await this.pcscd.stop();
  }
}

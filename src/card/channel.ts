import {
  type ApduChannel,
  type CommandApdu,
  type ResponseApdu,
  decodeResponse,
  encodeCommand,
} from './apdu.js';
import { type SecureMessaging } from './sm.js';
import { type CardTransport } from './transport.js';

/** Sends commands as they are (before access control). */
export class PlainChannel implements ApduChannel {
  constructor(private readonly transport: CardTransport) {}
  async send(command: CommandApdu): Promise<ResponseApdu> {
    return decodeResponse(await this.transport.transmit(encodeCommand(command)));
  }
}

/** Sends every command through secure messaging; every response's MAC is checked. */
export class SecureChannel implements ApduChannel {
  constructor(
    private readonly transport: CardTransport,
    private sm: SecureMessaging,
  ) {}

  /** Switches to new session keys (after Chip Authentication, part 11 §6.2.3). */
  rekey(sm: SecureMessaging): void {
    this.sm = sm;
  }

  get cipherName(): SecureMessaging['cipherName'] {
    return this.sm.cipherName;
  }

  async send(command: CommandApdu): Promise<ResponseApdu> {
    const answer = decodeResponse(await this.transport.transmit(this.sm.wrapCommand(command)));
    return this.sm.unwrapResponse(answer);
  }
}

/** Counts APDUs that cross a transport (bench and tests). */
export class CountingTransport implements CardTransport {
  count = 0;
  constructor(private readonly inner: CardTransport) {}
  transmit(command: Uint8Array): Promise<Uint8Array> {
    this.count++;
    return this.inner.transmit(command);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

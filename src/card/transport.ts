/**
 * The one interface every link to a chip implements: the in-process emulator, the emulator over
 * a pty, and a PC/SC reader. A transport moves whole APDUs; it knows nothing of secure messaging.
 *
 * Contract: `transmit` resolves with the complete response APDU (data ‖ SW1 SW2). It rejects with
 * `CardTransportError` when the card or reader is gone (removed, closed, link broken); after
 * `close()` every call rejects with `CardTransportError`.
 */
export interface CardTransport {
  transmit(command: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

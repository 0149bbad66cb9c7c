/** The part of firmata-io (firmata.js `packages/firmata-io`) this project uses. */
declare module 'firmata-io' {
  import type { EventEmitter } from 'node:events';

  /** What firmata-io reads from and writes to: a serialport-like stream. */
  export interface FirmataTransport extends EventEmitter {
    write(data: Buffer, callback?: (error?: Error | null) => void): unknown;
  }

  export interface FirmataOptions {
    reportVersionTimeout?: number;
    samplingInterval?: number;
    skipCapabilities?: boolean;
  }

  export class Firmata extends EventEmitter {
    constructor(transport: FirmataTransport, options?: FirmataOptions, callback?: (error?: Error) => void);
    readonly isReady: boolean;
    readonly MODES: Record<'INPUT' | 'OUTPUT' | 'ANALOG' | 'PWM' | 'PULLUP', number>;
    readonly firmware: { name?: string; version?: { major: number; minor: number } };
    pinMode(pin: number, mode: number): void;
    digitalRead(pin: number, callback: (value: number) => void): void;
    digitalWrite(pin: number, value: number): void;
    reportDigitalPin(pin: number, value: 0 | 1): void;
    sysexCommand(message: number[]): this;
    sysexResponse(command: number, handler: (this: Firmata, data: number[]) => void): this;
    removeAllListeners(event?: string): this;
  }

  type FirmataClass = typeof Firmata;
  function bindTransport(transport: unknown): FirmataClass;
  namespace bindTransport {
    const Firmata: FirmataClass;
  }
  export default bindTransport;
}

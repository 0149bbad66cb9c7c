/**
 * Device errors are told apart by class, never by message text (STYLE.md practice 3).
 * `DEVICE_ERROR_TEXT` gives people a readable line per code.
 */
export type DeviceErrorCode = 'canceled' | 'disconnected' | 'timeout' | 'protocol' | 'fault';

export abstract class DeviceError extends Error {
  abstract readonly code: DeviceErrorCode;
  constructor(
    readonly device: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${device}: ${message}`, options);
  }
}

/** The operation was cancelled by its caller (AbortSignal) or by the driver closing. */
export class DeviceCanceled extends DeviceError {
  override readonly name = 'DeviceCanceled';
  readonly code = 'canceled';
}

/** The port is gone (unplugged, EIO, closed) or was never there. */
export class DeviceDisconnected extends DeviceError {
  override readonly name = 'DeviceDisconnected';
  readonly code = 'disconnected';
}

/** The device did not answer in time. */
export class DeviceTimeout extends DeviceError {
  override readonly name = 'DeviceTimeout';
  readonly code = 'timeout';
}

/** The device answered with something the protocol does not allow, or an error status. */
export class DeviceProtocolError extends DeviceError {
  override readonly name = 'DeviceProtocolError';
  readonly code = 'protocol';
  constructor(
    device: string,
    message: string,
    readonly step?: string,
    readonly status?: number,
  ) {
    super(device, message);
  }
}

/** The device reported a physical fault (jam, paper out, motor timeout). */
export class DeviceFault extends DeviceError {
  override readonly name = 'DeviceFault';
  readonly code = 'fault';
  constructor(
    device: string,
    readonly fault: string,
    message: string,
  ) {
    super(device, message);
  }
}

export const DEVICE_ERROR_TEXT: Record<DeviceErrorCode, string> = {
  canceled: 'the operation was cancelled',
  disconnected: 'the device is not connected',
  timeout: 'the device did not answer in time',
  protocol: 'the device answered something unexpected',
  fault: 'the device reported a fault',
};

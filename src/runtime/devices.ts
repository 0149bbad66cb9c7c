/**
 * The device drivers a configuration asks for, each only when configured (disabled ones are
 * listed as such), and the subset a citizen session drives. Used by main.ts and `kiosk doctor`.
 */
import type { KioskConfig } from '../config/index.js';
import type { ManagedDevice } from '../kiosk/device-manager.js';
import type { SessionDevices } from '../kiosk/session.js';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Logger } from '../util/log.js';
import {
  type GpioBackend,
  JohnnyFiveDispenser,
  KioskGpio,
  onoffBackend,
  PcscChipStation,
  SerialFingerprintSensor,
  PRINTER_PROFILES,
  SerialReceiptPrinter,
  SerialScanner,
} from '../../devices/index.js';

/**
 * The devices of issue 4 besides the scanner: fingerprint sensor, receipt printer, card dispenser
 * (johnny-five) and GPIO, each only when configured; disabled ones are listed as such.
 */
export function addConfiguredDevices(
  config: KioskConfig,
  drivers: Map<string, ManagedDevice>,
  disabled: string[],
  log: Logger,
  gpioBackend: () => Promise<GpioBackend> = onoffBackend,
): void {
  const { fingerprint, printer, dispenser, gpio } = config.devices;
  if (fingerprint?.enabled)
    drivers.set(
      'fingerprint',
      new SerialFingerprintSensor({ path: fingerprint.path, baudRate: fingerprint.baudRate }),
    );
  else if (fingerprint) disabled.push('fingerprint');
  if (printer?.enabled)
    drivers.set(
      'printer',
      new SerialReceiptPrinter({
        path: printer.path,
        baudRate: printer.baudRate,
        profile: PRINTER_PROFILES[printer.profile],
      }),
    );
  else if (printer) disabled.push('printer');
  if (dispenser?.enabled)
    drivers.set('dispenser', new JohnnyFiveDispenser({ path: dispenser.path, baudRate: dispenser.baudRate }));
  else if (dispenser) disabled.push('dispenser');
  if (gpio?.enabled) {
    const kioskGpio = new KioskGpio(
      {
        inputs: gpio.inputs,
        leds: gpio.leds,
        debounceMs: gpio.debounceMs,
        ...(gpio.doorLock ? { doorLock: gpio.doorLock } : {}),
      },
      gpioBackend,
      gpio.sysfsRoot,
    );
    kioskGpio.on('input', (name, active) => log.info({ input: name, active }, 'gpio input'));
    drivers.set('gpio', kioskGpio);
  } else if (gpio) disabled.push('gpio');
  const reader = config.devices.cardReader;
  if (reader?.enabled) drivers.set('cardReader', chipStationOf(reader));
  else if (reader && !reader.enabled) disabled.push('cardReader');
}

/** The drivers a citizen session uses, picked out of the configured ones; the chip station by config. */
export function sessionDevicesOf(config: KioskConfig, drivers: Map<string, ManagedDevice>): SessionDevices {
  const fingerprint = drivers.get('fingerprint');
  const dispenser = drivers.get('dispenser');
  const printer = drivers.get('printer');
  const station = drivers.get('cardReader');
  return {
    ...(fingerprint instanceof SerialFingerprintSensor ? { fingerprint } : {}),
    ...(dispenser instanceof JohnnyFiveDispenser ? { dispenser } : {}),
    ...(printer instanceof SerialReceiptPrinter ? { printer } : {}),
    ...(station instanceof PcscChipStation ? { openChipStation: () => station.open() } : {}),
  };
}

/**
 * The configured devices. With `bus` (the runtime), the scanner's scans go onto it; without (`kiosk
 * doctor` probing the devices directly, no kiosk running), nothing listens.
 */
export function createDevices(
  config: KioskConfig,
  log: Logger,
  bus?: EventBus<RuntimeEvents>,
  gpioBackend?: () => Promise<GpioBackend>,
): { drivers: Map<string, ManagedDevice>; disabled: string[] } {
  const drivers = new Map<string, ManagedDevice>();
  const disabled: string[] = [];
  const scannerConfig = config.devices.scanner;
  if (scannerConfig?.enabled) {
    const scanner = new SerialScanner({ path: scannerConfig.path, baudRate: scannerConfig.baudRate });
    if (bus) scanner.on('scan', (text) => bus.emit('scanner.scan', { text, at: Date.now() }));
    scanner.on('rejected', (error) =>
      log.warn({ reason: error.reason, length: error.length }, 'scanner frame rejected'),
    );
    drivers.set('scanner', scanner);
  } else if (scannerConfig) disabled.push('scanner');
  addConfiguredDevices(config, drivers, disabled, log, gpioBackend);
  return { drivers, disabled };
}

/** The chip station's PC/SC reader as configured (`kiosk start`, `kiosk vault load`, doctor). */
export function chipStationOf(reader: NonNullable<KioskConfig['devices']['cardReader']>): PcscChipStation {
  return new PcscChipStation({
    cardWaitMs: reader.cardWaitMs,
    ...(reader.reader === undefined ? {} : { reader: reader.reader }),
    ...(reader.pcscdSocket === undefined ? {} : { pcscdSocket: reader.pcscdSocket }),
  });
}

/** The configured devices as `kiosk doctor` probes them directly (no kiosk running). */
export function createDevicesForDoctor(
  config: KioskConfig,
  log: Logger,
): { drivers: Map<string, ManagedDevice>; disabled: string[] } {
  return createDevices(config, log);
}

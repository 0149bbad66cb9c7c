import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { JohnnyFiveDispenser } from './dispenser/driver.js';
import { SerialFingerprintSensor } from './fingerprint/driver.js';
import { SerialReceiptPrinter } from './printer/driver.js';

export type IdentifiedDevice = 'fingerprint' | 'dispenser' | 'printer';

export interface SerialPortCandidate {
  path: string;
  /** e.g. "FTDI" or "1a86:7523", when udev could tell */
  description?: string;
}

/**
 * Lists serial ports. `SerialPort.list()` needs udev (udevadm); where it is missing (containers,
 * CI) this falls back to the usual device nodes and says so instead of failing.
 */
export async function listSerialPorts(): Promise<{ ports: SerialPortCandidate[]; warning?: string }> {
  try {
    const listed = await SerialPort.list();
    return {
      ports: listed.map((port) => {
        const description = [port.manufacturer, port.vendorId && `${port.vendorId}:${port.productId}`]
          .filter(Boolean)
          .join(' ');
        return description ? { path: port.path, description } : { path: port.path };
      }),
    };
  } catch (error) {
    const ports: SerialPortCandidate[] = [];
    for (const [dir, pattern] of [
      ['/dev/serial/by-id', /./],
      ['/dev', /^tty(USB|ACM|AMA|S0)\d*$/],
    ] as const) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) if (pattern.test(name)) ports.push({ path: join(dir, name) });
    }
    return {
      ports,
      warning: `serial port listing unavailable (${(error as Error).message}); checked /dev instead`,
    };
  }
}

/**
 * Which of our devices answers on `path`: each protocol asks one real question (fingerprint
 * VfyPwd/ReadSysPara at 57600, Firmata handshake + DISPENSER STATUS at 57600, DLE EOT at 9600).
 * Only one prober holds the port at a time.
 */
export async function identifyDevice(path: string, timeoutMs = 800): Promise<IdentifiedDevice | undefined> {
  const probes: Array<
    [
      IdentifiedDevice,
      () => {
        start(): Promise<void>;
        stop(): Promise<void>;
        probe(): Promise<void>;
        readonly health: string;
      },
    ]
  > = [
    ['fingerprint', () => new SerialFingerprintSensor({ path, baudRate: 57600, timeoutMs })],
    ['dispenser', () => new JohnnyFiveDispenser({ path, baudRate: 57600, handshakeMs: timeoutMs })],
    ['printer', () => new SerialReceiptPrinter({ path, baudRate: 9600, timeoutMs })],
  ];
  for (const [kind, make] of probes) {
    const driver = make();
    try {
      await driver.start();
      const deadline = performance.now() + timeoutMs;
      while (driver.health !== 'ok' && driver.health !== 'missing' && performance.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      if (driver.health === 'missing') return undefined;
      await driver.probe();
      return kind;
    } catch {
      // not this protocol: try the next
    } finally {
      await driver.stop().catch(() => undefined);
    }
  }
  return undefined;
}

/**
 * `kiosk doctor`: a self-test of every configured device.
 *
 * A pty or serial port must have one reader: two processes reading it steal each other's bytes.
 * So when the kiosk described by the configuration is running (its loopback UI answers
 * `/healthz` with the same kiosk id), doctor asks it: the kiosk's device manager keeps each
 * request/response device's health true by a real exchange every `devices.probeIntervalMs`.
 * Otherwise doctor opens the devices itself and makes one real exchange with each (fingerprint:
 * VfyPwd + ReadSysPara; printer: DLE EOT status; dispenser: Firmata handshake + STATUS; scanner
 * and GPIO: the port/lines open — a scanner only ever speaks when it scans; card reader: pcscd
 * lists the configured PC/SC reader, which doctor names).
 */
import type { KioskConfig } from '../config/index.js';
import type { ManagedDevice } from '../kiosk/device-manager.js';
import { createDevicesForDoctor } from '../main.js';
import { createLogger } from '../util/log.js';

export type DoctorState = 'ok' | 'degraded' | 'missing' | 'disabled';

export interface DoctorResult {
  device: string;
  state: DoctorState;
  detail?: string;
  /** how the answer was obtained */
  via: 'running kiosk' | 'direct probe';
  ms?: number;
}

interface HealthzBody {
  kioskId?: string;
  parts?: { devices?: { parts?: Record<string, { state: string; detail?: string }> } };
}

export async function askRunningKiosk(config: KioskConfig): Promise<HealthzBody | undefined> {
  const host = config.ui.host === '::1' ? '[::1]' : config.ui.host;
  try {
    const response = await fetch(`http://${host}:${config.ui.port}/healthz`, {
      signal: AbortSignal.timeout(1500),
    });
    const body = (await response.json()) as HealthzBody;
    return body.kioskId === config.kiosk.id ? body : undefined;
  } catch {
    return undefined;
  }
}

const configuredDevices = (config: KioskConfig) =>
  (['scanner', 'fingerprint', 'printer', 'dispenser', 'cardReader', 'gpio'] as const).filter(
    (name) => config.devices[name] !== undefined,
  );

async function waitForHealth(device: ManagedDevice, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (device.health !== 'ok' && performance.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

async function probeDirectly(
  config: KioskConfig,
  progress: (result: DoctorResult) => void,
): Promise<DoctorResult[]> {
  const log = createLogger({ level: 'silent', pretty: false });
  const { drivers, disabled } = createDevicesForDoctor(config, log);
  const results: DoctorResult[] = disabled.map((device) => ({
    device,
    state: 'disabled',
    via: 'direct probe',
  }));
  results.forEach(progress);
  await Promise.all(
    [...drivers].map(async ([device, driver]) => {
      const started = performance.now();
      let result: DoctorResult;
      try {
        await driver.start();
        // a Firmata board needs its handshake before it counts as ok
        await waitForHealth(driver, 3000);
        if (driver.health === 'missing') throw new Error(driver.healthDetail ?? 'missing');
        await driver.probe?.();
        result = { device, state: 'ok', via: 'direct probe', ms: Math.round(performance.now() - started) };
        // what the driver found, e.g. which PC/SC reader is the chip station's
        if (driver.healthDetail) result.detail = driver.healthDetail;
      } catch (error) {
        const state: DoctorState = driver.health === 'missing' ? 'missing' : 'degraded';
        result = {
          device,
          state,
          detail: `${(error as Error).name}: ${(error as Error).message}`,
          via: 'direct probe',
        };
      } finally {
        await driver.stop().catch(() => undefined);
      }
      results.push(result);
      progress(result);
    }),
  );
  // devices this build has no driver for (e.g. the card reader of another issue)
  for (const device of configuredDevices(config))
    if (!results.some((r) => r.device === device)) {
      const result: DoctorResult = {
        device,
        state: 'missing',
        detail: 'no driver in this build',
        via: 'direct probe',
      };
      results.push(result);
      progress(result);
    }
  return results;
}

export async function runDoctor(
  config: KioskConfig,
  options: { json: boolean; write: (line: string) => void },
): Promise<number> {
  const progress = (result: DoctorResult) => {
    if (options.json) return;
    const detail = result.detail ? ` (${result.detail})` : '';
    const time = result.ms === undefined ? '' : ` in ${result.ms} ms`;
    options.write(`${result.device.padEnd(12)} ${result.state}${time}${detail}\n`);
  };
  let results: DoctorResult[];
  const running = await askRunningKiosk(config);
  if (running) {
    if (!options.json) options.write(`asking the running kiosk ${config.kiosk.id} (it holds the ports)\n`);
    const parts = running.parts?.devices?.parts ?? {};
    results = configuredDevices(config).map((device) => {
      const part = parts[device];
      // DeviceManager details read "<state>" or "<state>: <why>"
      const [state = 'missing', ...why] = (part?.detail ?? 'missing: not managed by the kiosk').split(': ');
      const known: DoctorState =
        state === 'ok' || state === 'degraded' || state === 'disabled' ? state : 'missing';
      const result: DoctorResult = { device, state: known, via: 'running kiosk' };
      if (why.length > 0) result.detail = why.join(': ');
      progress(result);
      return result;
    });
  } else {
    if (!options.json)
      options.write('no running kiosk for this configuration: probing the devices directly\n');
    results = await probeDirectly(config, progress);
  }
  const failed = results.filter((r) => r.state !== 'ok' && r.state !== 'disabled');
  if (options.json)
    options.write(`${JSON.stringify({ ok: failed.length === 0, devices: results }, null, 2)}\n`);
  else
    options.write(
      failed.length === 0 ? 'all devices ok\n' : `not ok: ${failed.map((r) => r.device).join(', ')}\n`,
    );
  return failed.length === 0 ? 0 : 1;
}

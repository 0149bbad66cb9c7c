import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DispenserEmulator, FingerprintEmulator, PrinterEmulator } from '../../../devices/index.js';
import { pluggablePty } from '../../helpers/device-rig.js';
import { spawnKiosk } from '../../helpers/processes.js';
import { startPcscd } from '../../../src/demo/pcscd.js';

async function doctor(configFile: string) {
  const run = spawnKiosk(['doctor', '--config', configFile, '--json']);
  const { code } = await run.exited;
  const report = JSON.parse(run.output().slice(run.output().indexOf('{'))) as {
    ok: boolean;
    devices: Array<{ device: string; state: string; via: string; detail?: string }>;
  };
  const states = Object.fromEntries(report.devices.map((d) => [d.device, d.state]));
  return { code, report, states };
}

function rigControl(socketPath: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath, () => socket.write(`${line}\n`));
    socket.setEncoding('utf8');
    socket.once('data', (answer: string) => {
      socket.end();
      resolve(answer.trim());
    });
    socket.once('error', reject);
  });
}

describe('kiosk doctor', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('against the running demo: every device ok, the PC/SC reader named; one unplugged → missing, exit 1', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'doctor-demo-'));
    const demo = spawnKiosk(['demo', '--data-dir', dataDir, '--ui-port', '0', '--broker-port', '0']);
    cleanups.push(async () => {
      demo.child.kill('SIGINT');
      await demo.exited;
    });
    const [, uiUrl] = await demo.waitFor(/demo ready: (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
    // the dispenser is ok once its Firmata handshake is through
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const health = (await (await fetch(`${uiUrl}/healthz`)).json()) as { status: string };
      if (health.status === 'up') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const configFile = join(dataDir, 'kiosk.json');
    const healthy = await doctor(configFile);
    expect(healthy.states).toEqual({
      scanner: 'ok',
      fingerprint: 'ok',
      printer: 'ok',
      dispenser: 'ok',
      cardReader: 'ok',
    });
    expect(healthy.report.devices.every((d) => d.via === 'running kiosk')).toBe(true);
    expect(healthy.code).toBe(0);
    // doctor names the chip station's PC/SC reader (the rig's vpcd reader in its own pcscd)
    expect(healthy.report.devices.find((d) => d.device === 'cardReader')?.detail).toBe(
      'PC/SC reader "Virtual PCD 00 00"',
    );

    expect(await rigControl(join(dataDir, 'rig', 'rig.sock'), 'unplug fingerprint')).toBe('ok');
    let sick = await doctor(configFile);
    for (let i = 0; i < 20 && sick.states.fingerprint !== 'missing'; i++) sick = await doctor(configFile);
    expect(sick.states).toMatchObject({ fingerprint: 'missing', printer: 'ok', dispenser: 'ok' });
    expect(sick.code).toBe(1);

    // the card reader's pcscd stopped: the reader is gone, doctor says so
    expect(await rigControl(join(dataDir, 'rig', 'rig.sock'), 'unplug cardReader')).toBe('ok');
    sick = await doctor(configFile);
    for (let i = 0; i < 20 && sick.states.cardReader !== 'missing'; i++) sick = await doctor(configFile);
    expect(sick.states.cardReader).toBe('missing');
    expect(await rigControl(join(dataDir, 'rig', 'rig.sock'), 'replug cardReader')).toBe('ok');
    let back = await doctor(configFile);
    for (let i = 0; i < 40 && back.states.cardReader !== 'ok'; i++) back = await doctor(configFile);
    expect(back.states.cardReader).toBe('ok');
  });

  it('without a running kiosk probes the devices itself with a real exchange', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-direct-'));
    const fingerprintPty = await pluggablePty('fingerprint');
    const printerPty = await pluggablePty('printer');
    const dispenserPty = await pluggablePty('dispenser');
    const fingerprint = new FingerprintEmulator({ path: fingerprintPty.emulatorPath });
    const printer = new PrinterEmulator({ path: printerPty.emulatorPath });
    const dispenser = new DispenserEmulator({ path: dispenserPty.emulatorPath });
    for (const emulator of [fingerprint, printer, dispenser]) await emulator.start();
    cleanups.push(async () => {
      for (const emulator of [fingerprint, printer, dispenser]) await emulator.stop();
      for (const pty of [fingerprintPty, printerPty, dispenserPty]) await pty.close();
    });
    // the chip station's reader: a pcscd of the test's own with the vpcd reader
    const pcscd = await startPcscd(join(dir, 'pcscd'));
    cleanups.push(() => pcscd.stop());
    const configFile = join(dir, 'kiosk.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        kiosk: { id: 'doctor-0001' },
        mqtt: { url: 'mqtt://127.0.0.1:1' },
        dataDir: join(dir, 'data'),
        ui: { port: 1 }, // nothing listens there: no running kiosk
        devices: {
          fingerprint: { path: fingerprintPty.devicePath },
          printer: { path: printerPty.devicePath },
          dispenser: { path: dispenserPty.devicePath },
          cardReader: { kind: 'pcsc', reader: 'Virtual PCD', pcscdSocket: pcscd.socketPath },
        },
      }),
    );
    const healthy = await doctor(configFile);
    expect(healthy.states).toEqual({ fingerprint: 'ok', printer: 'ok', dispenser: 'ok', cardReader: 'ok' });
    expect(healthy.report.devices.every((d) => d.via === 'direct probe')).toBe(true);
    expect(healthy.report.devices.find((d) => d.device === 'cardReader')?.detail).toBe(
      'PC/SC reader "Virtual PCD 00 00"',
    );
    expect(healthy.code).toBe(0);

    // powered off behind a present port: no answer; unplugged: missing
    await printer.stop();
    await fingerprint.stop();
    await fingerprintPty.unplug();
    await pcscd.stop();
    const sick = await doctor(configFile);
    expect(sick.states).toEqual({
      fingerprint: 'missing',
      printer: 'degraded',
      dispenser: 'ok',
      cardReader: 'missing',
    });
    expect(sick.code).toBe(1);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import {
  DeviceCanceled,
  DeviceDisconnected,
  DeviceTimeout,
  FingerprintEmulator,
  FingerprintStatusError,
  SerialFingerprintSensor,
  syntheticFinger,
  syntheticTemplate,
} from '../../../devices/index.js';
import { pluggablePty, until } from '../../helpers/device-rig.js';

describe('fingerprint sensor over a real pseudo-terminal', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig(options: { password?: number } = {}) {
    const pty = await pluggablePty('fingerprint');
    const emulator = new FingerprintEmulator({ path: pty.emulatorPath, password: 0x1234 });
    await emulator.start();
    const sensor = new SerialFingerprintSensor({
      path: pty.devicePath,
      baudRate: 57600,
      password: options.password ?? 0x1234,
      retryMs: 100,
      timeoutMs: 1500,
      pollMs: 10,
    });
    await sensor.start();
    cleanups.push(async () => {
      await sensor.stop();
      await emulator.stop();
      await pty.close();
    });
    return { pty, emulator, sensor };
  }

  it('handshakes, reads its parameters, enrolls, uploads, stores and searches', async () => {
    const { emulator, sensor } = await rig();
    await sensor.verifyPassword();
    const parameters = await sensor.readSystemParameters();
    expect(parameters).toMatchObject({ packetSize: 128, baudRate: 57600, librarySize: 200 });
    const finger = syntheticFinger('citizen-a');
    emulator.placeFinger(finger);
    expect(await sensor.captureImage()).toBe(true);
    await sensor.imageToTemplate(1);
    await sensor.imageToTemplate(2);
    await sensor.createModel();
    const template = await sensor.uploadTemplate(2);
    expect(template.equals(finger.template)).toBe(true);
    await sensor.store(2, 7);
    emulator.placeFinger(syntheticFinger('someone-else'));
    await sensor.captureImage();
    await sensor.imageToTemplate(1);
    expect(await sensor.search(1, 0, 200)).toBeUndefined();
    emulator.placeFinger(finger);
    await sensor.captureImage();
    await sensor.imageToTemplate(1);
    expect(await sensor.search(1, 0, 200)).toBe(7);
    await sensor.empty();
    expect(await sensor.search(1, 0, 200)).toBeUndefined();
  });

  it('verifies 1:1 against a downloaded template: right finger, wrong finger, low quality', async () => {
    const { emulator, sensor } = await rig();
    await sensor.readSystemParameters();
    const reference = syntheticTemplate('citizen-b');
    emulator.placeFinger(syntheticFinger('citizen-b'));
    expect(await sensor.verifyFinger(reference, { timeoutMs: 3000 })).toMatchObject({ matched: true });
    emulator.placeFinger(syntheticFinger('impostor'));
    expect(await sensor.verifyFinger(reference, { timeoutMs: 3000 })).toMatchObject({ matched: false });
    emulator.placeFinger(syntheticFinger('citizen-b', 'low'));
    const lowQuality = await sensor.verifyFinger(reference, { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(lowQuality).toBeInstanceOf(FingerprintStatusError);
    expect(lowQuality).toMatchObject({ step: 'Img2Tz', status: 0x07 });
  });

  it('reports a wrong password as a status error', async () => {
    const { sensor } = await rig({ password: 0x9999 });
    const error = await sensor.verifyPassword().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FingerprintStatusError);
    expect(error).toMatchObject({ step: 'VfyPwd', status: 0x13 });
  });

  it('after a sensor power cycle, answers 21h until the driver handshakes again, which it does by itself', async () => {
    const { emulator, sensor } = await rig();
    await sensor.verifyPassword();
    await emulator.stop();
    await emulator.start();
    expect(await sensor.readSystemParameters()).toMatchObject({ packetSize: 128 });
  });

  it('with the wrong password, an instruction fails on the handshake the driver makes for it', async () => {
    const { sensor } = await rig({ password: 0x9999 });
    await expect(sensor.readSystemParameters()).rejects.toMatchObject({ step: 'VfyPwd', status: 0x13 });
  });

  it('waits for a finger, times out without one, and can be cancelled', async () => {
    const { emulator, sensor } = await rig();
    emulator.placeFinger(undefined);
    await expect(sensor.waitForFinger({ timeoutMs: 700 })).rejects.toBeInstanceOf(DeviceTimeout);
    const controller = new AbortController();
    const waiting = sensor.waitForFinger({ timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 400);
    await expect(waiting).rejects.toBeInstanceOf(DeviceCanceled);
    const placed = sensor.waitForFinger({ timeoutMs: 5000 });
    setTimeout(() => emulator.placeFinger(syntheticFinger('late')), 400);
    await expect(placed).resolves.toBeUndefined();
  });

  it('waits for a finger left on the sensor to be lifted (GenImg until "no finger"), not before', async () => {
    const { emulator, sensor } = await rig();
    emulator.placeFinger(syntheticFinger('resting'));
    await expect(sensor.waitForLift({ timeoutMs: 700 })).rejects.toBeInstanceOf(DeviceTimeout);
    const lifted = sensor.waitForLift({ timeoutMs: 5000 });
    let done = false;
    void lifted.then(() => (done = true));
    await sensor.verifyPassword(); // an exchange later, the finger still lies there: still waiting
    expect(done).toBe(false);
    emulator.placeFinger(undefined);
    await expect(lifted).resolves.toBeUndefined();
  });

  it('times out on a silent sensor and turns degraded after repeated timeouts, ok once it answers', async () => {
    const { emulator, sensor } = await rig();
    emulator.silent = true;
    for (let i = 0; i < 3; i++)
      await expect(sensor.verifyPassword({ timeoutMs: 150 })).rejects.toBeInstanceOf(DeviceTimeout);
    expect(sensor.health).toBe('degraded');
    emulator.silent = false;
    await sensor.verifyPassword();
    expect(sensor.health).toBe('ok');
  });

  it('unplugged mid-operation: the operation fails DeviceDisconnected, health missing, then recovers', async () => {
    const { pty, emulator, sensor } = await rig();
    emulator.placeFinger(undefined);
    const waiting = sensor.waitForFinger({ timeoutMs: 20_000 }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await emulator.stop();
    await pty.unplug();
    expect(await waiting).toBeInstanceOf(DeviceDisconnected);
    await until(() => sensor.health === 'missing');
    await expect(sensor.verifyPassword()).rejects.toBeInstanceOf(DeviceDisconnected);
    await pty.replug();
    await emulator.start();
    await until(() => sensor.health === 'ok');
    await sensor.verifyPassword();
  });

  it('drops the late answer to a cancelled read instead of taking it for the next request', async () => {
    // R30x packets carry no sequence number: a reply that arrives after its request was abandoned
    // must never be read as the answer to the next one (a stale "no finger", or worse, a stale ok).
    const { emulator, sensor } = await rig();
    const finger = syntheticFinger('citizen-a');
    const abort = new AbortController();
    const reading = sensor.verifyFinger(finger.template, { timeoutMs: 5000, signal: abort.signal });
    await new Promise((resolve) => setTimeout(resolve, 150)); // DownChar done, a GenImg in flight
    abort.abort();
    await expect(reading).rejects.toBeInstanceOf(DeviceCanceled);
    const parameters = await sensor.readSystemParameters();
    expect(parameters).toMatchObject({ packetSize: 128, baudRate: 57600 });
    emulator.placeFinger(syntheticFinger('someone-else'));
    expect(await sensor.verifyFinger(finger.template, { timeoutMs: 3000 })).toMatchObject({ matched: false });
    emulator.placeFinger(finger);
    expect(await sensor.verifyFinger(finger.template, { timeoutMs: 3000 })).toMatchObject({ matched: true });
  });
});

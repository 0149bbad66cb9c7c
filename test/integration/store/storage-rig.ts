/**
 * The world of the storage-fault tests (issue 13, must-show 6): `kiosk start` as the real process
 * (spawned from source, as systemd runs it) on a real Mosquitto, its data directory on a small tmpfs
 * of its own so "disk full" is the kernel's ENOSPC, not a simulated error. Operations sign commands
 * with a pinned key; what the kiosk did is observed from outside: its events, telemetry, command
 * results, `/healthz`, its log, and its SQLite file opened read-only.
 */
import { execFileSync } from 'node:child_process';
import { type KeyObject } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { generateOpsKeyPair, privateKeyFromPem, signCommand } from '../../../src/fleet/index.js';
import { readSecurityState, type SecurityState, securityStatePath } from '../../../src/fleet/state-file.js';
import type { Envelope, MessageBody, TelemetryBody } from '../../../src/link/messages.js';
import { topics } from '../../../src/link/topics.js';
import { SqliteDatabase } from '../../../src/store/sqlite.js';
import { freePort, type MosquittoInstance, startMosquitto } from '../../helpers/mosquitto.js';
import { type Received, watchOn } from '../../helpers/mqtt-watch.js';
import { type Spawned, spawnKiosk } from '../../helpers/processes.js';

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

type CommandResult = MessageBody<'command.result'>;
type Watch = Awaited<ReturnType<typeof watchOn>>;

/** A tmpfs of `sizeMb` at a fresh directory (we run as root); `unmount` undoes it. */
export function mountTmpfs(sizeMb: number): { dir: string; unmount: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'storage-faults-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], {
      stdio: 'pipe',
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      'cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): no real full disk can be made here',
      {
        cause: error,
      },
    );
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `file` until the file system says ENOSPC: the disk is full for everyone on it. */
export function fillDisk(file: string): void {
  const handle = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x42);
      for (;;) {
        try {
          if (writeSync(handle, chunk) < size) break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(handle);
  }
}

export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

export interface StorageWorld {
  kioskId: string;
  /** the tmpfs the kiosk's data directory is on */
  disk: string;
  dataDir: string;
  storeFile: string;
  kiosk: Spawned;
  /** every line the kiosk processes of this world printed, across restarts */
  logs(): string;
  broker: MosquittoInstance;
  events: Watch;
  telemetry: Watch;
  results: Watch;
  /** starts `kiosk start` on the same configuration and data directory */
  start(): Promise<void>;
  /** SIGTERM and wait */
  stopKiosk(): Promise<void>;
  /** signs `name` with the pinned operations key and publishes it; returns its correlation id */
  send(name: string, args?: Record<string, string | number | boolean>): Promise<string>;
  /** the `cmd/result` for `correlationId` (after result index `from`) */
  resultOf(correlationId: string, timeoutMs?: number): Promise<CommandResult>;
  /** the latest telemetry after index `from` that satisfies `predicate` */
  telemetryWhere(
    predicate: (body: TelemetryBody) => boolean,
    timeoutMs: number,
    from?: number,
  ): Promise<TelemetryBody>;
  /** events of `type` after index `from` */
  eventsOf<T>(type: string, from?: number): T[];
  /** one value of the kiosk's `fleet_state` (read-only connection), undefined when absent */
  fleetState(key: string): Promise<unknown>;
  /**
   * Leaves `pages` reusable pages at the start of the kiosk's WAL (0: truncates it), written
   * beside the running kiosk on a connection of its own: what a commit on a full disk can still use.
   */
  walRoom(pages: number): Promise<void>;
  /** the security state file beside the kiosk's keys */
  securityState(): SecurityState;
  healthz(): Promise<{ status: number; body: { parts: Record<string, { state: string; detail?: string }> } }>;
  stop(): Promise<void>;
}

export async function startStorageWorld(name: string, diskMb = 8): Promise<StorageWorld> {
  const mounted = mountTmpfs(diskMb);
  const broker: MosquittoInstance = await startMosquitto();
  const kioskId = `${name}-${process.pid}`;
  const dataDir = join(mounted.dir, 'kiosk');
  const ops = generateOpsKeyPair();
  const opsKey: KeyObject = privateKeyFromPem(ops.privateKeyPem);
  const configDir = mkdtempSync(join(tmpdir(), 'storage-faults-'));
  const configFile = join(configDir, 'kiosk.json');
  const uiPort = await freePort();
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(
    configFile,
    JSON.stringify({
      kiosk: { id: kioskId },
      mqtt: {
        url: broker.url,
        protocolVersion: 5,
        reconnect: { minMs: 100, maxMs: 1000 },
        telemetryIntervalMs: 1000,
      },
      dataDir,
      ui: { host: '127.0.0.1', port: uiPort },
      fleet: { opsPublicKeys: [ops.publicKey] },
    }),
  );
  const client: MqttClient = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clean: true });
  const watch = async (topic: string) =>
    watchOn(await mqtt.connectAsync(broker.url, { protocolVersion: 5, clean: true }), topic);
  const events = await watch(topics.events(kioskId));
  const telemetry = await watch(topics.telemetry(kioskId));
  const results = await watch(topics.cmdResult(kioskId));
  let previousLogs = '';
  const parse = <T>(received: Received) => JSON.parse(received.payload) as Envelope<T>;

  const world: StorageWorld = {
    kioskId,
    disk: mounted.dir,
    dataDir,
    storeFile: join(dataDir, 'kiosk.sqlite'),
    kiosk: undefined as unknown as Spawned,
    logs: () => previousLogs + (world.kiosk?.output() ?? ''),
    broker,
    events,
    telemetry,
    results,
    async start() {
      if (world.kiosk) previousLogs += world.kiosk.output();
      world.kiosk = spawnKiosk(['start', '--config', configFile]);
      await world.kiosk.waitFor(/kiosk runtime ready/, 60_000);
      await world.kiosk.waitFor(/link: connected/, 20_000);
    },
    async stopKiosk() {
      if (world.kiosk.child.exitCode !== null) return;
      world.kiosk.child.kill('SIGTERM');
      await world.kiosk.exited;
    },
    async send(commandName, args) {
      const message = signCommand({ kioskId, name: commandName, key: opsKey, ...(args ? { args } : {}) });
      await client.publishAsync(topics.cmd(kioskId), JSON.stringify(message), { qos: 1 });
      return message.correlationId ?? message.id;
    },
    async resultOf(correlationId, timeoutMs = 15_000) {
      const hit = await results.waitFor(
        (received) => parse(received).correlationId === correlationId,
        timeoutMs,
      );
      return parse<CommandResult>(hit).body;
    },
    async telemetryWhere(predicate, timeoutMs, from = 0) {
      const hit = await telemetry.waitFor(
        (received) => predicate(parse<TelemetryBody>(received).body),
        timeoutMs,
        from,
      );
      return parse<TelemetryBody>(hit).body;
    },
    eventsOf<T>(type: string, from = 0) {
      return events.received
        .slice(from)
        .map((received) => parse<T>(received))
        .filter((message) => message.type === type)
        .map((message) => message.body);
    },
    async fleetState(key) {
      const db = await SqliteDatabase.open(world.storeFile, { readOnly: true });
      try {
        const row = await db.get<{ value: string }>('SELECT value FROM fleet_state WHERE key = ?', [key]);
        return row ? (JSON.parse(row.value) as unknown) : undefined;
      } finally {
        await db.close();
      }
    },
    async walRoom(pages) {
      const db = await SqliteDatabase.open(world.storeFile);
      try {
        await db.exec('PRAGMA busy_timeout = 5000');
        if (pages > 0) {
          await db.exec('BEGIN IMMEDIATE; CREATE TABLE test_wal_room (filler BLOB)');
          for (let n = 0; n < pages; n++) await db.run('INSERT INTO test_wal_room VALUES (zeroblob(3000))');
          await db.exec('COMMIT; DROP TABLE test_wal_room');
          // copied into the database: the next writer starts again at the WAL's first frame
          await db.exec('PRAGMA wal_checkpoint(RESTART)');
        } else await db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } finally {
        await db.close();
      }
    },
    securityState() {
      const state = readSecurityState(securityStatePath(dataDir));
      if (!state) throw new Error('no security state file');
      return state;
    },
    async healthz() {
      const response = await fetch(`http://127.0.0.1:${uiPort}/healthz`);
      return {
        status: response.status,
        body: (await response.json()) as { parts: Record<string, { state: string; detail?: string }> },
      };
    },
    async stop() {
      if (world.kiosk && world.kiosk.child.exitCode === null) await world.stopKiosk().catch(() => undefined);
      for (const watched of [events, telemetry, results]) await watched.close().catch(() => undefined);
      await client.endAsync().catch(() => undefined);
      await broker.stop();
      mounted.unmount();
      rmSync(configDir, { recursive: true, force: true });
    },
  };
  await world.start();
  return world;
}

/**
 * Software updates taken by the running kiosk (issue 14): an `update-software` order from
 * operations (a signed `command.request`, verified by the fleet room's gate before anything of it
 * is stored) is staged here, and the kiosk switches to it at idle.
 *
 * The runtime may not write the install root (systemd makes /opt/cccd-kiosk read-only to it), so:
 * 1. it stages the release with the TUF updater into its own state directory
 *    (`<stateDir>/update-staging`: its own TUF metadata, seeded from the install root's trusted
 *    root, the resumable download, and the verified, unpacked `releases/<version>`), writes a
 *    SHA256SUMS of the release's files beside its manifest, and leaves `<stateDir>/switch-request`
 *    (one line: the version);
 * 2. at idle (never mid-session: whenIdle of runtime/restart.ts) it asks for a restart
 *    (`fleet.restart`, EXIT_RESTART_REQUESTED under systemd);
 * 3. deploy/release-guard.sh (ExecStartPre, root) copies the staged release into
 *    releases/<version>, checks the copy against SHA256SUMS, switches `current` (previous,
 *    probation, boots: switchRelease semantics) and the new runtime's release probation judges it.
 *
 * Every step is answered to operations as a `software.result` outbox event naming the order, and
 * the order's progress is kept in `<stateDir>/software-order.json` (atomic), so a restart — the
 * switch itself, or a crash mid-download — resumes where it was and answers `applied` once the
 * new release runs. Rollbacks the guard recorded in `<stateDir>/rollbacks.jsonl` are reported as
 * `software.rolledBack` events (through the outbox: at least once, deduplicated by an id derived
 * from the record) and the file is removed once the events are committed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { CONFIG_SCHEMA_VERSION } from '../config/schema-version.js';
import type { UpdateSettings } from '../config/update-schema.js';
import type { AfterCommit } from '../link/inbound.js';
import type { MessageBody } from '../link/messages.js';
import { type IdleSource, whenIdle } from '../runtime/restart.js';
import type { Store, Transaction } from '../store/index.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Logger } from '../util/log.js';
import { runtimeVersion } from '../util/version.js';
import { UpdateRefused } from './errors.js';
import { BundleManifestSchema, hostTarget, type HostIdentity } from './manifest.js';
import { currentVersion, RollbackRecordSchema, type RollbackRecord } from './releases.js';
import type { UpdateSource } from './transport.js';
import { metadataDir, type StagedRelease, stageUpdate } from './updater.js';

/** Where the runtime stages releases (a TUF "root" of its own: update/metadata, update/downloads, releases/). */
export const stagingRoot = (stateDir: string): string => join(stateDir, 'update-staging');
/** One line, the staged version: deploy/release-guard.sh lands it before the next start. */
export const switchRequestFile = (stateDir: string): string => join(stateDir, 'switch-request');
/** Rollbacks the guard made and the runtime has not reported yet (JSON lines, RollbackRecord). */
export const unreportedRollbacksFile = (stateDir: string): string => join(stateDir, 'rollbacks.jsonl');
const orderFile = (stateDir: string): string => join(stateDir, 'software-order.json');

type SoftwareResult = MessageBody<'software.result'>;

const OrderSchema = z.strictObject({
  orderId: z.string().min(1).max(64),
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  by: z.string().max(200),
  status: z.enum([
    'accepted',
    'downloading',
    'staged',
    'switching',
    'applied',
    'kept',
    'refused',
    'failed',
    'rolled-back',
  ]),
});
type Order = z.infer<typeof OrderSchema>;

export interface SoftwareOrder {
  orderId: string;
  version: string;
  by: string;
}

export interface RuntimeUpdateOptions {
  settings: UpdateSettings;
  /** the runtime's writable state directory (config.dataDir: /var/lib/cccd-kiosk) */
  stateDir: string;
  store: Store;
  sessions: IdleSource;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  /** progress is reported at most every this many percent (default 25) */
  progressStepPercent?: number;
}

/** What this kiosk is, for the updater's checks: platform, Node ABI, running version. */
export async function hostIdentityOf(installRoot: string): Promise<HostIdentity> {
  const target = hostTarget();
  if (target === undefined)
    throw new UpdateRefused('other-target', `${process.platform}-${process.arch} has no release bundles`);
  return {
    target,
    nodeAbi: process.versions.modules,
    version: (await currentVersion(installRoot)) ?? runtimeVersion(),
    configSchema: CONFIG_SCHEMA_VERSION,
  };
}

export async function updateSourceOf(settings: UpdateSettings): Promise<UpdateSource> {
  if (!settings.repositoryUrl || !settings.caFile)
    throw new UpdateRefused('unreachable', 'no update.repositoryUrl + update.caFile in the configuration');
  return { kind: 'https', baseUrl: settings.repositoryUrl, ca: await readFile(settings.caFile) };
}

export class RuntimeUpdate {
  private order: Order | undefined;
  private staging: AbortController | undefined;
  private stopped = false;

  constructor(private readonly options: RuntimeUpdateOptions) {
    this.order = readOrder(options.stateDir);
  }

  /**
   * The fleet room's `update-software` hook, inside the transaction that records the verified
   * order: answered `accepted` in that transaction, staged once it committed. The same order
   * re-delivered never gets here (the inbox and the nonce answer it as a replay); a new order
   * supersedes one still staging.
   */
  async accept(
    order: SoftwareOrder,
    tx: Transaction,
    afterCommit: AfterCommit,
  ): Promise<Record<string, unknown>> {
    if (this.order?.orderId === order.orderId) return { orderId: order.orderId, status: this.order.status };
    tx.emit({
      type: 'software.result',
      body: { orderId: order.orderId, version: order.version, status: 'accepted' },
    });
    afterCommit(() => {
      this.staging?.abort();
      // a release an earlier order staged is not switched to any more: this order decides
      rmSync(switchRequestFile(this.options.stateDir), { force: true });
      this.save({ ...order, status: 'accepted' });
      void this.stage();
    });
    return { orderId: order.orderId, version: order.version, status: 'accepted' };
  }

  /**
   * After the runtime started: reports the guard's rollbacks, answers the order that restarted
   * the kiosk (`applied` when its release runs now), and resumes an order cut short by a restart.
   */
  async start(): Promise<void> {
    try {
      await this.resume();
    } catch (error) {
      // the runtime serves citizens whatever happened to an update: log it, never stop the start
      this.options.log.error({ err: String(error) }, 'update: resuming the software order failed');
    }
  }

  private async resume(): Promise<void> {
    await this.reportRollbacks();
    const order = this.order;
    if (!order) return;
    if (order.status === 'switching' || order.status === 'staged') {
      // staged: a restart (a crash, pushed settings) came before the switch at idle, and the guard
      // may have landed it at this start all the same
      const running = runtimeVersion();
      if (running === order.version) await this.answer('applied');
      else if (order.status === 'switching')
        await this.answer('failed', { detail: `the release guard did not switch to it; ${running} runs` });
      else void this.switchAtIdle();
      return;
    }
    if (order.status === 'accepted' || order.status === 'downloading') void this.stage();
  }

  /** Release probation passed for `version` (src/update/release-probation.ts). */
  async releaseKept(version: string): Promise<void> {
    if (this.order?.version === version && this.order.status === 'applied') await this.answer('kept');
  }

  stop(): void {
    this.stopped = true;
    this.staging?.abort();
  }

  // ---- staging ---------------------------------------------------------------------------------

  private async stage(): Promise<void> {
    const order = this.order;
    if (!order || this.stopped) return;
    const controller = new AbortController();
    this.staging = controller;
    const { stateDir, log } = this.options;
    try {
      const staged = await this.downloadWithRetries(order, controller.signal);
      if (controller.signal.aborted) return;
      await writeChecksums(staged.dir);
      await writeFile(switchRequestFile(stateDir), `${staged.version}\n`);
      // receivedBytes < bundleBytes: a download cut short (a restart, a lost link) was resumed, not refetched
      log.info(
        { version: staged.version, receivedBytes: staged.received, bundleBytes: staged.bundleLength },
        'update: release verified and staged; switching at idle',
      );
      await this.answer('staged', {}, order);
      await this.switchAtIdle();
    } catch (error) {
      if (controller.signal.aborted || this.stopped) return;
      if (error instanceof UpdateRefused) {
        log.warn({ reason: error.reason, detail: error.detail }, 'update: refused');
        await this.answer('refused', { reason: error.reason, detail: error.detail }, order);
      } else {
        const detail = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 300) : String(error);
        log.error({ err: detail }, 'update: staging failed');
        await this.answer('failed', { detail }, order);
      }
    } finally {
      if (this.staging === controller) this.staging = undefined;
    }
  }

  /**
   * Stages the order's release. A repository that cannot be reached (a kiosk on a flaky uplink, the
   * ops server restarting) is tried again after each wait of update.retrySeconds, and the order is
   * answered `downloading` with when; a download cut short resumes where it stopped (Range). Only
   * when the waits are used up is the order refused as unreachable.
   */
  private async downloadWithRetries(order: Order, signal: AbortSignal): Promise<StagedRelease> {
    const waits = this.options.settings.retrySeconds;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.download(order, signal);
      } catch (error) {
        const unreachable = error instanceof UpdateRefused && error.reason === 'unreachable';
        const configured = this.options.settings.repositoryUrl !== undefined;
        if (!unreachable || !configured || attempt >= waits.length || signal.aborted) throw error;
        const seconds = waits[attempt]!;
        const detail = `update repository unreachable; retry ${attempt + 1} of ${waits.length} in ${seconds} s`;
        this.options.log.warn({ version: order.version }, `update: ${detail}`);
        await this.answer('downloading', { detail }, order);
        await sleep(seconds * 1000, undefined, { signal });
      }
    }
  }

  /** One attempt: the TUF updater into the runtime's staging root, progress answered every step %. */
  private async download(order: Order, signal: AbortSignal): Promise<StagedRelease> {
    const { settings, stateDir } = this.options;
    const step = this.options.progressStepPercent ?? 25;
    // no repository configured: refused as such, before anything is written
    const source = await updateSourceOf(settings);
    await seedTrustedRoot(settings.installRoot, stagingRoot(stateDir));
    await this.answer('downloading', { percent: 0 }, order);
    let reported = 0;
    return stageUpdate({
      root: stagingRoot(stateDir),
      source,
      host: await hostIdentityOf(settings.installRoot),
      version: order.version,
      maxBytesPerSecond: settings.maxBytesPerSecond,
      signal,
      onProgress: (written, length) => {
        const percent = Math.floor((written / Math.max(length, 1)) * 100);
        if (percent - reported < step || signal.aborted) return;
        reported = percent - (percent % step);
        void this.answer('downloading', { percent: reported }, order);
      },
    });
  }

  /** Waits for the session in progress to end, then asks for the restart the guard switches in. */
  private async switchAtIdle(): Promise<void> {
    const { sessions, log, bus } = this.options;
    if (!sessions.idle) log.info('update: switch waits for the session to end');
    await whenIdle(sessions);
    if (this.stopped || this.order?.status !== 'staged') return;
    await this.answer('switching');
    log.warn({ version: this.order.version }, 'update: restarting at idle to switch releases');
    bus.emit('fleet.restart', { by: 'software' });
  }

  // ---- answers and rollbacks -------------------------------------------------------------------

  /**
   * Answers `order` (default: the current one) and records its status; an answer of an order a
   * newer one superseded meanwhile is dropped.
   */
  private async answer(
    status: SoftwareResult['status'],
    extra: Partial<SoftwareResult> = {},
    order: Order | undefined = this.order,
  ): Promise<void> {
    if (!order || order.orderId !== this.order?.orderId) return;
    if (this.order.status !== status) this.save({ ...this.order, status });
    await this.options.store
      .enqueue({
        type: 'software.result',
        body: { orderId: order.orderId, version: order.version, status, ...extra },
      })
      .catch((error: unknown) => this.options.log.warn({ err: String(error) }, 'update: answer not queued'));
  }

  private save(order: Order): void {
    this.order = order;
    writeFileAtomic(orderFile(this.options.stateDir), JSON.stringify(order));
  }

  /**
   * One transaction for every recorded rollback, then the file goes. A crash in between reports
   * them again next start with the same event ids (derived from the record), which the consumers
   * deduplicate.
   */
  private async reportRollbacks(): Promise<void> {
    const file = unreportedRollbacksFile(this.options.stateDir);
    const records = await readRollbacks(file);
    if (records.length === 0) return;
    const order = this.order;
    await this.options.store.transaction(async (tx) => {
      for (const { record, line } of records) {
        const orderId = order && order.version === record.from ? order.orderId : undefined;
        const id = createHash('sha256').update(line).digest('hex').slice(0, 32);
        // still queued from a report cut short: once is enough (the outbox's ids are unique)
        if (await tx.get('SELECT 1 FROM outbox WHERE event_id = ?', [id])) continue;
        tx.emit({
          id,
          type: 'software.rolledBack',
          body: { ...record, ...(orderId ? { orderId } : {}) },
        });
      }
    });
    await rm(file, { force: true });
    for (const { record } of records) {
      this.options.log.warn({ ...record }, 'update: rollback reported to operations');
      if (order && order.version === record.from) this.save({ ...order, status: 'rolled-back' });
    }
  }
}

function readOrder(stateDir: string): Order | undefined {
  if (!existsSync(orderFile(stateDir))) return undefined;
  try {
    return OrderSchema.parse(JSON.parse(readFileSync(orderFile(stateDir), 'utf8')));
  } catch {
    // a torn or foreign file says nothing we can act on: forget it (operations re-send the order)
    rmSync(orderFile(stateDir), { force: true });
    return undefined;
  }
}

async function readRollbacks(file: string): Promise<Array<{ record: RollbackRecord; line: string }>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        const parsed = RollbackRecordSchema.safeParse(JSON.parse(line));
        return parsed.success ? [{ record: parsed.data, line }] : [];
      } catch {
        return [];
      }
    });
}

/** The staging area trusts what the install root trusts (install.sh put the ops' root.json there). */
export async function seedTrustedRoot(installRoot: string, staging: string): Promise<void> {
  const trusted = join(metadataDir(staging), 'root.json');
  if (existsSync(trusted)) return;
  await mkdir(metadataDir(staging), { recursive: true });
  await copyFile(join(metadataDir(installRoot), 'root.json'), trusted);
}

/**
 * `sha256sum -c` input for the guard, from the manifest the updater just checked every file
 * against: the guard re-checks the copy it lands in releases/ (a torn copy, a full disk) without
 * parsing JSON in sh. Paths with a newline or backslash would need sha256sum's escaping: refused.
 */
export async function writeChecksums(releaseDir: string): Promise<void> {
  const manifest = BundleManifestSchema.parse(
    JSON.parse(await readFile(join(releaseDir, 'manifest.json'), 'utf8')),
  );
  const lines = Object.entries(manifest.files).map(([path, sha]) => {
    if (/[\n\\]/.test(path)) throw new UpdateRefused('bad-bundle', 'a file name the guard cannot check');
    return `${sha}  app/${path}\n`;
  });
  await writeFile(join(releaseDir, 'SHA256SUMS'), lines.join(''));
}

/**
 * `kiosk-ops rollout …`: staged rollouts of a signed config (issue 13; software releases with
 * issue 14) driven by the rollout engine (src/ops/rollout.ts). `start` and `resume` drive a rollout
 * until it completes or aborts, printing a line per step (with `--json`, one JSON line per
 * progress event) on stderr and the outcome on stdout. `pause`, `abort`, `status` and `list` work
 * on the records kept beside the operations keys, with or without a process driving the rollout.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { MqttClient } from 'mqtt';
import { keyIdOf } from '../fleet/index.js';
import {
  configDriver,
  payloadDrivers,
  countOutcomes,
  MqttFleetFeed,
  newRolloutId,
  ownerAlive,
  PayloadInvalid,
  plannedSteps,
  requestRolloutAction,
  RolloutEngine,
  type RolloutPlan,
  RolloutPlanInvalid,
  type RolloutProgress,
  type RolloutRecord,
  RolloutRecordUnreadable,
  RolloutRefused,
  RolloutStore,
} from '../ops/rollout.js';
import { type RolloutPayload, SoftwarePayloadSchema } from '../ops/rollout-record.js';
import { kioskList, naturalInt, percent, positiveInt } from './option-parsers.js';

/** What `kiosk-ops` lends its subcommands: output, errors, broker and key handling. */
export interface OpsCliKit<Broker> {
  json: () => boolean | undefined;
  print: (value: unknown, text: string) => void;
  /** a line on stderr (JSON with --json) */
  progress: (text: string, data?: Record<string, unknown>) => void;
  /** an error the operator can act on: one line and `exitCode` (default: refused/bad input) */
  refuse: (message: string, exitCode?: number) => Error;
  exit: { refused: number; brokerUnreachable: number; unknownKiosk: number };
  addBrokerOptions: (command: Command) => Command;
  /** connects; `session` asks for a persistent session under a stable client id */
  connect: (
    options: Broker,
    session?: { clientId: string; clean: boolean; onClient?: (client: MqttClient) => void },
  ) => Promise<MqttClient>;
  loadKey: (file: string) => KeyObject;
  readJsonFile: (file: string, what: string) => unknown;
}

interface StoreOptions {
  opsDir?: string;
  key?: string;
  operator?: string;
}

interface StartOptions extends StoreOptions {
  key: string;
  configVersion?: number;
  settings?: string;
  software?: string;
  kiosk?: string[];
  fleet?: boolean;
  expiresInHours?: number;
  canary?: string[];
  canaryPercent?: number;
  rate: RolloutPlan['rate'];
  maxFailures: number;
  maxFailurePercent?: number;
  ackTimeout: number;
  soak: number;
  settle: number;
}

/** The payload `rollout start` signs: `--software`, or `--config-version` with `--settings`; checked first. */
function startPayload(
  kit: Pick<OpsCliKit<unknown>, 'refuse' | 'readJsonFile'>,
  options: StartOptions,
  key: KeyObject,
): RolloutPayload {
  if (options.software !== undefined) {
    if (options.settings !== undefined || options.configVersion !== undefined)
      throw kit.refuse('give either --software or --config-version with --settings');
    const payload = SoftwarePayloadSchema.safeParse({
      kind: 'software',
      version: options.software,
      expiresInMs: (options.expiresInHours ?? 24) * 3600_000,
    });
    if (!payload.success)
      throw kit.refuse(
        `--software ${options.software}: ${payload.error.issues[0]?.path.join('.') === 'version' ? 'expected a version MAJOR.MINOR.PATCH' : 'a software order lives at most 24 hours (--expires-in-hours)'}`,
      );
    return payload.data;
  }
  if (options.settings === undefined || options.configVersion === undefined)
    throw kit.refuse('give --software VERSION, or --config-version with --settings');
  const settings = kit.readJsonFile(options.settings, 'settings file');
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw kit.refuse(`settings file ${options.settings} holds no JSON object`);
  const payload = {
    kind: 'config' as const,
    version: options.configVersion,
    settings: settings as Record<string, unknown>,
    expiresInMs: (options.expiresInHours ?? 168) * 3600_000,
  };
  try {
    // refused before anything is signed or the broker is asked
    configDriver(key).check(payload);
  } catch (error) {
    if (error instanceof PayloadInvalid) throw kit.refuse(`${error.message} (in ${options.settings})`);
    throw error;
  }
  return payload;
}

/** `constant:10` (10 kiosks per step) or `exponential:2` (2, 4, 8… per step). */
export function parseRate(value: string): RolloutPlan['rate'] {
  const match = /^(constant|exponential):(\d+)$/.exec(value);
  const count = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(count) || count <= 0)
    throw new InvalidArgumentError('expected constant:K or exponential:K (K kiosks, then doubling)');
  return match[1] === 'constant'
    ? { kind: 'constant', perStep: count }
    : { kind: 'exponential', first: count };
}

function operatorName(options: StoreOptions, key?: KeyObject): string {
  const name = options.operator ?? process.env.KIOSK_OPS_OPERATOR ?? userInfo().username;
  return key ? `${name} (key ${keyIdOf(createPublicKey(key))})` : name;
}

/** The text line of a progress event; undefined for what is summed up per step. */
export function progressLine(progress: RolloutProgress): string | undefined {
  const { counts } = progress;
  const step = progress.step === undefined ? '' : `step ${progress.step + 1}/${progress.stepsPlanned}`;
  const tally = `${counts.healthy} healthy, ${counts.applied + counts.pushed} in progress, ${counts.failed} failed, ${counts.skipped} skipped, ${counts.waiting} waiting`;
  switch (progress.kind) {
    case 'started':
      return `rollout ${progress.rolloutId}: ${progress.detail ?? ''} to ${counts.total} kiosk(s) in up to ${progress.stepsPlanned} step(s)`;
    case 'step-started':
      return `${step}${progress.step === 0 ? ' (canary)' : ''}: sending to ${progress.detail ?? ''}`;
    case 'step-done':
      return `${step} done: ${tally}`;
    case 'kiosk':
      // successes are summed up per step; what went wrong is named at once
      if (progress.outcome === 'pushed' || progress.outcome === 'applied' || progress.outcome === 'healthy')
        return undefined;
      return `${progress.kioskId}: ${progress.outcome}${progress.detail ? ` (${progress.detail})` : ''}`;
    default:
      return `rollout ${progress.kind}${progress.detail ? `: ${progress.detail}` : ''} — ${tally}`;
  }
}

/** What an operator reads at the end: the tally, then one line per kiosk. */
export function rolloutSummary(record: RolloutRecord): string {
  const counts = countOutcomes(record.kiosks);
  const rows = record.order.map((kioskId) => {
    const kiosk = record.kiosks[kioskId];
    return `${kioskId}\t${kiosk?.outcome ?? '?'}${kiosk?.step === undefined ? '' : `\tstep ${kiosk.step + 1}`}${kiosk?.detail ? `\t${kiosk.detail}` : ''}`;
  });
  return [
    `rollout ${record.id} ${record.state}${record.reason ? ` (${record.reason})` : ''}: ${counts.healthy} healthy, ${counts.failed} failed, ${counts.skipped} skipped, ${counts.waiting} not sent`,
    ...rows,
  ].join('\n');
}

/** The record without the signed messages still in flight (they are for the kiosks, not people). */
function shown(record: RolloutRecord): RolloutRecord {
  const copy = structuredClone(record);
  for (const kiosk of Object.values(copy.kiosks)) delete kiosk.sent;
  return copy;
}

export function addRolloutCommands<Broker extends object>(program: Command, kit: OpsCliKit<Broker>): void {
  const rollout = program
    .command('rollout')
    .description(
      'staged rollouts: canary first, then a rate; stops by itself on failures or health regressions',
    );
  const storeOf = (options: StoreOptions) => {
    const dir =
      options.opsDir ?? process.env.KIOSK_OPS_DIR ?? (options.key ? dirname(options.key) : undefined);
    if (!dir) throw kit.refuse('give --ops-dir (the directory of ops.key, where rollouts are recorded)');
    return new RolloutStore(dir);
  };
  const load = (store: RolloutStore, id: string) => {
    try {
      const record = store.load(id);
      if (!record) throw kit.refuse(`no rollout ${id} in ${store.directory}`);
      return record;
    } catch (error) {
      if (error instanceof RolloutRecordUnreadable) throw kit.refuse(error.message);
      throw error;
    }
  };
  const withStoreOptions = (command: Command) =>
    command
      .option(
        '--ops-dir <dir>',
        'where rollouts are recorded (default: the directory of --key; env KIOSK_OPS_DIR)',
      )
      .option(
        '--operator <name>',
        'who does this, for the record (default: env KIOSK_OPS_OPERATOR or the user)',
      );
  const report = (progress: RolloutProgress) => {
    const text = progressLine(progress);
    if (kit.json()) kit.progress(text ?? progress.kind, { ...progress });
    else if (text) kit.progress(text);
  };

  /** Drives rollout `id` (started or resumed by `begin`) over a persistent session until it settles. */
  const drive = async (
    options: Broker & StartOptions,
    id: string,
    key: KeyObject,
    begin: (engine: RolloutEngine, feed: MqttFleetFeed) => Promise<RolloutRecord>,
  ) => {
    const store = storeOf(options);
    let feed: MqttFleetFeed | undefined;
    // persistent: the kiosks' answers that arrive while this process is down wait at the broker
    const session = { clientId: `kiosk-ops-rollout-${id}`, clean: false };
    const client = await kit.connect(options, {
      ...session,
      onClient: (connecting) => {
        feed = new MqttFleetFeed(connecting, { hold: true });
      },
    });
    if (!feed) throw new Error('fleet feed not created');
    const engine = new RolloutEngine({ store, fleet: feed, drivers: payloadDrivers(key) });
    engine.onProgress(report);
    let interrupted: string | undefined;
    let finishing = false;
    let interrupt: () => void = () => undefined;
    const interruption = new Promise<undefined>((resolve) => {
      interrupt = () => resolve(undefined);
    });
    const stop = (why: string) => {
      if (finishing || interrupted) return;
      interrupted = why;
      interrupt();
    };
    const onSignal = () => stop('interrupted');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    client.once('close', () => stop('lost the broker'));
    try {
      await feed.start();
      let record: RolloutRecord;
      try {
        record = await begin(engine, feed);
      } catch (error) {
        if (
          error instanceof RolloutRefused ||
          error instanceof RolloutPlanInvalid ||
          error instanceof PayloadInvalid
        )
          throw kit.refuse(error.message);
        throw error;
      } finally {
        feed.release();
      }
      const settled = await Promise.race([engine.settled(record.id), interruption]);
      if (!settled)
        throw kit.refuse(
          `${interrupted}: rollout ${record.id} stays resumable: kiosk-ops rollout resume ${record.id}`,
          interrupted === 'lost the broker' ? kit.exit.brokerUnreachable : kit.exit.refused,
        );
      kit.print(shown(settled), rolloutSummary(settled));
      if (settled.state === 'aborted')
        throw kit.refuse(`rollout ${settled.id} aborted: ${settled.reason ?? ''}`);
    } finally {
      finishing = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await engine.close();
      await client.endAsync(true).catch(() => undefined);
      const record = store.load(id);
      // a settled (or never started) rollout needs its session no more; an unfinished one keeps it
      if (!record || record.state === 'completed' || record.state === 'aborted')
        await forgetSession(kit, options, session.clientId);
    }
  };

  kit
    .addBrokerOptions(
      withStoreOptions(
        rollout
          .command('start')
          .description(
            'sign a config (or a software release) and roll it out: canary, then a rate; waits until it completes or aborts',
          )
          .requiredOption('--key <file>', 'operations private key (ops.key)')
          .option('--config-version <n>', 'config version: above every target kiosk’s own', positiveInt)
          .option('--settings <file>', 'JSON file of settings (a part of the kiosk config schema)')
          .option(
            '--software <version>',
            'roll out this signed release (MAJOR.MINOR.PATCH, published with kiosk-ops release) instead of a config',
          )
          .option('--kiosk <ids>', 'target kiosk id(s), comma separated or repeated', kioskList)
          .option('--fleet', 'every kiosk with a retained status')
          .option('--canary <ids>', 'canary kiosk(s), updated first', kioskList)
          .option('--canary-percent <p>', 'canary: this percentage of the targets (default 10)', percent)
          .addOption(
            new Option('--rate <rate>', 'after the canary: constant:K or exponential:K (K, 2K, 4K…)')
              .argParser(parseRate)
              .default(parseRate('constant:10'), 'constant:10'),
          )
          .option('--max-failures <n>', 'failed kiosks tolerated; one more aborts', naturalInt, 0)
          .option(
            '--max-failure-percent <p>',
            'abort above this percentage of failed updated kiosks',
            percent,
          )
          .option(
            '--ack-timeout <ms>',
            'a kiosk that has not answered by then has failed',
            positiveInt,
            120_000,
          )
          .option(
            '--soak <ms>',
            "how long each step's kiosks stay healthy before the next step",
            naturalInt,
            300_000,
          )
          .option(
            '--expires-in-hours <h>',
            'how long kiosks may still apply it (default: a config 168, a software order 24, its maximum)',
            positiveInt,
          )
          .option(
            '--settle <ms>',
            'how long to gather retained statuses to know the kiosks',
            positiveInt,
            1500,
          ),
      ),
    )
    .addHelpText(
      'after',
      `
Example:
  $ kiosk-ops rollout start --url mqtts://broker:8883 --key ops-keys/ops.key --config-version 8 \\
      --settings fleet.json --fleet --canary hn-0001,hn-0002 --rate exponential:5 --max-failures 2
  $ kiosk-ops rollout start --url mqtts://broker:8883 --key ops-keys/ops.key --software 0.4.1 \
      --fleet --canary hn-0001 --ack-timeout 3600000 --soak 900000`,
    )
    .action(async (options: Broker & StartOptions) => {
      if (!options.fleet === !options.kiosk?.length) throw kit.refuse('give either --fleet or --kiosk');
      if (options.canary && options.canaryPercent !== undefined)
        throw kit.refuse('give either --canary or --canary-percent');
      const key = kit.loadKey(options.key);
      const payload = startPayload(kit, options, key);
      const plan: RolloutPlan = {
        canary: options.canary ? { kiosks: options.canary } : { percent: options.canaryPercent ?? 10 },
        rate: options.rate,
        abort: {
          maxFailures: options.maxFailures,
          ...(options.maxFailurePercent === undefined
            ? {}
            : { maxFailurePercent: options.maxFailurePercent }),
          ackTimeoutMs: options.ackTimeout,
          soakMs: options.soak,
        },
      };
      const id = newRolloutId();
      await drive(options, id, key, async (engine, feed) => {
        // the retained statuses say which kiosks exist and whether they are online
        await new Promise((resolve) => setTimeout(resolve, options.settle));
        const unknown = (options.kiosk ?? []).filter((kioskId) => !feed.snapshot(kioskId));
        if (unknown.length > 0)
          throw kit.refuse(
            `no kiosk ${unknown.join(', ')} is known to the broker (no retained status): check the id`,
            kit.exit.unknownKiosk,
          );
        return engine.start({
          id,
          payload,
          plan,
          ...(options.kiosk ? { targets: options.kiosk } : {}),
          by: operatorName(options, key),
        });
      });
    });

  kit
    .addBrokerOptions(
      withStoreOptions(
        rollout
          .command('resume')
          .description(
            'resume a paused rollout, or take over one whose ops process stopped; waits until it ends',
          )
          .argument('<id>', 'the rollout')
          .requiredOption('--key <file>', 'operations private key (ops.key)'),
      ),
    )
    .action(async (id: string, options: Broker & StartOptions) => {
      const store = storeOf(options);
      const record = load(store, id);
      const key = kit.loadKey(options.key);
      const by = operatorName(options, key);
      if (record.state === 'paused' && ownerAlive(record.owner)) {
        // a process still drives it: ask that one
        requestRolloutAction(store, id, { action: 'resume', by, at: Date.now() });
        kit.print(
          { id, requested: 'resume', owner: record.owner },
          `asked process ${record.owner?.pid} on ${record.owner?.host} to resume ${id}`,
        );
        return;
      }
      await drive(options, id, key, (engine) => Promise.resolve(engine.resume(id, by)));
    });

  for (const action of ['pause', 'abort'] as const)
    withStoreOptions(
      rollout
        .command(action)
        .description(
          action === 'pause'
            ? 'pause a rollout: no kiosk is sent it until resumed (answers and health are still watched)'
            : 'abort a rollout for good: kiosks already updated keep it (push another config to undo)',
        )
        .argument('<id>', 'the rollout')
        .option('--reason <text>', 'why, for the record')
        .option('--key <file>', 'ops.key: its directory holds the rollouts (or --ops-dir)'),
    ).action((id: string, options: StoreOptions & { reason?: string }) => {
      const store = storeOf(options);
      load(store, id);
      try {
        const record = requestRolloutAction(store, id, {
          action,
          by: operatorName(options),
          ...(options.reason ? { reason: options.reason.slice(0, 500) } : {}),
          at: Date.now(),
        });
        const handedOver = record.owner !== undefined;
        kit.print(
          { id, requested: action, state: record.state, ...(handedOver ? { owner: record.owner } : {}) },
          handedOver
            ? `asked process ${record.owner?.pid} on ${record.owner?.host} to ${action} ${id}`
            : `rollout ${id} ${record.state}`,
        );
      } catch (error) {
        if (error instanceof RolloutRefused) throw kit.refuse(error.message);
        throw error;
      }
    });

  withStoreOptions(
    rollout
      .command('status')
      .description("a rollout's record: state, steps, each kiosk's outcome, who did what when")
      .argument('<id>', 'the rollout')
      .option('--key <file>', 'ops.key: its directory holds the rollouts (or --ops-dir)'),
  ).action((id: string, options: StoreOptions) => {
    const record = load(storeOf(options), id);
    const history = record.history.map(
      (entry) =>
        `${new Date(entry.at).toISOString()}\t${entry.action}\t${entry.by}${entry.detail ? `\t${entry.detail}` : ''}`,
    );
    kit.print(shown(record), `${rolloutSummary(record)}\n\nhistory:\n${history.join('\n')}`);
  });

  withStoreOptions(
    rollout
      .command('list')
      .description('every rollout recorded: id, state, payload, who, when')
      .option('--key <file>', 'ops.key: its directory holds the rollouts (or --ops-dir)'),
  ).action((options: StoreOptions) => {
    const records = storeOf(options).list();
    kit.print(
      records.map((record) => ({
        id: record.id,
        state: record.state,
        payload: { kind: record.payload.kind, version: record.payload.version },
        createdBy: record.createdBy,
        createdAt: new Date(record.createdAt).toISOString(),
        steps: `${record.steps.length}/${plannedSteps(record.plan, record.order.length)}`,
        counts: countOutcomes(record.kiosks),
      })),
      records.length === 0
        ? 'no rollouts recorded'
        : records
            .map((record) => {
              const counts = countOutcomes(record.kiosks);
              return `${record.id}\t${record.state}\t${record.payload.kind} v${record.payload.version}\t${new Date(record.createdAt).toISOString()}\t${record.createdBy}\t${counts.healthy}/${counts.total} healthy, ${counts.failed} failed`;
            })
            .join('\n'),
    );
  });
}

/** Ends the persistent session of a settled rollout, so the broker stops keeping messages for it. */
async function forgetSession<Broker extends object>(
  kit: OpsCliKit<Broker>,
  options: Broker,
  clientId: string,
): Promise<void> {
  try {
    const client = await kit.connect(options, { clientId, clean: true });
    await client.endAsync();
  } catch {
    // the broker keeps an idle session; harmless, and it is not the operator's problem now
  }
}

#!/usr/bin/env node
/**
 * `kiosk-ops`: the operations centre's tool. Generates operations keys, signs and pushes
 * configuration (retained, QoS 1) to one kiosk, a list or the fleet, rolls it out in stages
 * (`rollout`, src/cli/rollout.ts), sends signed commands and waits for their `cmd/result`, and shows
 * the fleet from the kiosks' retained statuses.
 * Every command takes `--json` for machine-readable output.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  checkPushableSettings,
  generateOpsKeyPair,
  InvalidSettings,
  isKioskCommand,
  KIOSK_COMMANDS,
  keyIdOf,
  privateKeyFromPem,
  signCommand,
  signConfig,
} from '../fleet/index.js';
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  decodeMessage,
  type Envelope,
  InvalidMessage,
  type MessageBody,
  type StatusBody,
} from '../link/messages.js';
import { parseKioskTopic, topics } from '../link/topics.js';
import { runtimeVersion } from '../util/version.js';
import { addEnrolmentCommands } from './enrolment-admin.js';
import { kioskList, positiveInt } from './option-parsers.js';
import { addServeCommands } from './ops-serve.js';
import { addRolloutCommands } from './rollout.js';
import { registerReleaseCommands } from './release.js';

interface GlobalOptions {
  json?: boolean;
}

/**
 * Exit codes (also in --help): 0 done; 1 refused or bad input (a file, JSON, settings, command
 * name, option); 2 no answer within --timeout; 3 broker unreachable; 4 no such kiosk.
 */
export const EXIT = { refused: 1, noAnswer: 2, brokerUnreachable: 3, unknownKiosk: 4 } as const;

/** A failure the operator can act on: one line on stderr, and its exit code. No stack trace. */
export class OpsError extends Error {
  override readonly name = 'OpsError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
  ) {
    super(message);
  }
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.length > 0) return code;
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

/** Reads a file an operator named; a missing or unreadable file is one clear line. */
function readOperatorFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new OpsError(`${what} ${file} does not exist`);
    if (code === 'EISDIR') throw new OpsError(`${what} ${file} is a directory`);
    throw new OpsError(`cannot read ${what} ${file}: ${reasonOf(error)}`);
  }
}

function readJsonFile(file: string, what: string): unknown {
  const text = readOperatorFile(file, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OpsError(`${what} ${file} is not valid JSON: ${(error as Error).message}`);
  }
}
interface BrokerOptions {
  url: string;
  connectTimeout: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function argPair(value: string, previous: Record<string, string | number | boolean> = {}) {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value');
  const raw = value.slice(eq + 1);
  const parsed =
    raw === 'true' ? true : raw === 'false' ? false : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  return { ...previous, [value.slice(0, eq)]: parsed };
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

function loadKey(file: string): KeyObject {
  const pem = readOperatorFile(file, 'key file');
  try {
    return privateKeyFromPem(pem);
  } catch {
    throw new OpsError(`key file ${file} holds no operations private key (PKCS#8 PEM)`);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** A session that outlives this process (rollouts): its client id, and `clean: false` to keep it. */
interface SessionOptions {
  clientId: string;
  clean: boolean;
  /** called with the client before it connects (to listen before queued messages arrive) */
  onClient?: (client: MqttClient) => void;
}

async function connectBroker(options: BrokerOptions, session?: SessionOptions): Promise<MqttClient> {
  const clientOptions: IClientOptions = {
    protocolVersion: 4,
    clean: session?.clean ?? true,
    reconnectPeriod: 0,
    connectTimeout: options.connectTimeout,
    clientId: session?.clientId ?? `kiosk-ops-${process.pid}-${Date.now().toString(36)}`,
  };
  if (options.tlsCa) clientOptions.ca = readOperatorFile(options.tlsCa, 'TLS CA file');
  if (options.tlsCert) clientOptions.cert = readOperatorFile(options.tlsCert, 'TLS certificate file');
  if (options.tlsKey) clientOptions.key = readOperatorFile(options.tlsKey, 'TLS key file');
  let client: MqttClient | undefined;
  try {
    client = mqtt.connect(options.url, clientOptions);
    const connecting = client;
    session?.onClient?.(connecting);
    await new Promise<void>((resolve, reject) => {
      connecting.once('connect', () => resolve());
      connecting.once('error', reject);
      // reconnectPeriod 0: a refused or timed-out connection only closes
      connecting.once('close', () => reject(new Error(`no connection within ${options.connectTimeout} ms`)));
    });
    return connecting;
  } catch (error) {
    client?.end(true);
    throw new OpsError(
      `cannot reach the broker at ${redactUrl(options.url)}: ${reasonOf(error)}`,
      EXIT.brokerUnreachable,
    );
  }
}

function addBrokerOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'broker URL').env('KIOSK_OPS_URL').makeOptionMandatory())
    .option('--tls-ca <file>', 'PEM of the broker CA')
    .option('--tls-cert <file>', "PEM of operations' client certificate")
    .option('--tls-key <file>', "PEM of operations' client key")
    .option('--connect-timeout <ms>', 'how long to try to reach the broker', positiveInt, 10_000);
}

/** Waits until `count` matching messages arrived on `filter`, or the timeout; returns what arrived. */
async function collect<T>(
  client: MqttClient,
  filter: string,
  pick: (topic: string, payload: Buffer) => T | undefined,
  done: (items: T[]) => boolean,
  timeoutMs: number,
  beforeSubscribe?: () => Promise<void>,
): Promise<T[]> {
  const items: T[] = [];
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const timer = setTimeout(finish, timeoutMs);
  client.on('message', (topic, payload) => {
    const item = pick(topic, payload);
    if (item === undefined) return;
    items.push(item);
    if (done(items)) finish();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  await beforeSubscribe?.();
  await finished;
  clearTimeout(timer);
  return items;
}

interface KnownKiosk {
  status: StatusBody;
  /** when the kiosk published this status (its last word to the broker) */
  ts: string;
}

/**
 * The kiosks' retained statuses: gathered for `settleMs`, or until every one of `only` has been
 * seen. A kiosk without one has never connected to this broker (or was removed).
 */
async function retainedStatuses(
  client: MqttClient,
  settleMs: number,
  only?: readonly string[],
): Promise<Map<string, KnownKiosk>> {
  const known = new Map<string, KnownKiosk>();
  let finish: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const listener = (topic: string, payload: Buffer) => {
    const parsed = parseKioskTopic(topic);
    if (!parsed || parsed.leaf !== 'status' || payload.length === 0) return;
    if (only && !only.includes(parsed.kioskId)) return;
    try {
      const message = decodeMessage(payload, 'kiosk.status');
      known.set(parsed.kioskId, { status: message.body, ts: message.ts });
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
    }
    if (only?.every((id) => known.has(id))) finish();
  };
  client.on('message', listener);
  const filters = only ? only.map((id) => topics.status(id)) : [topics.allStatuses()];
  const timer = setTimeout(finish, settleMs);
  await client.subscribeAsync(filters, { qos: 1 });
  await settled;
  clearTimeout(timer);
  await client.unsubscribeAsync(filters);
  client.off('message', listener);
  return known;
}

/** Refuses to wait for kiosks the broker has never heard of, instead of a silent timeout. */
function requireKnown(known: Map<string, KnownKiosk>, ids: readonly string[]): void {
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0)
    throw new OpsError(
      `no kiosk ${unknown.join(', ')} is known to the broker (no retained status): check the id`,
      EXIT.unknownKiosk,
    );
}

function ago(ts: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(ts)) / 1000));
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 90) return `${seconds}s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86_400)}d ago`;
}

export function buildKioskOpsCli(): Command {
  const program = new Command('kiosk-ops')
    .description(
      'cccd-kiosk operations: sign and push configuration, roll it out in stages, send commands, watch the fleet',
    )
    .version(runtimeVersion(), '-V, --version')
    .option('--json', 'machine-readable output (one JSON document per line; errors too, on stderr)')
    .configureOutput({
      // commander's own errors (unknown option, missing argument): one line, like ours
      outputError: (text, write) => write(`kiosk-ops: ${text.replace(/^error: /, '').trim()}\n`),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ kiosk-ops keys generate --out ./ops-keys
  $ kiosk-ops config sign --key ops-keys/ops.key --config-version 7 --settings fleet.json > fleet-v7.json
  $ kiosk-ops config push --url mqtts://broker:8883 --key ops-keys/ops.key --config-version 7 \\
      --settings fleet.json --fleet --wait
  $ kiosk-ops config push --url … --key ops.key --config-version 3 --settings s.json --kiosk hn-0001,hn-0002
  $ kiosk-ops cmd send lock --url … --key ops.key --kiosk hn-0001 --wait
  $ kiosk-ops cmd send set-log-level --arg level=debug --url … --key ops.key --kiosk hn-0001 --wait
  $ kiosk-ops fleet --url mqtts://broker:8883 --json
  $ kiosk-ops rollout start --url … --key ops.key --config-version 8 --settings s.json --fleet \
      --canary hn-0001 --rate exponential:5
  $ kiosk-ops rollout pause 2026-11-30-1a2b3c4d --key ops.key
  $ kiosk-ops operator add alice --passwords ops-keys/operators   (password on stdin)
  $ kiosk-ops serve --url mqtts://broker:8883 --key ops-keys/ops.key --passwords ops-keys/operators

Commands a kiosk runs: ${KIOSK_COMMANDS.join(', ')}
(set-log-level takes --arg level=…). The broker URL may come from KIOSK_OPS_URL.

Exit codes: 0 done; 1 refused or bad input; 2 no answer within --timeout;
3 broker unreachable; 4 no such kiosk.`,
    );
  const json = () => program.opts<GlobalOptions>().json;
  /** A progress line of a --wait on stderr (stdout keeps only the result). */
  const progress = (text: string, data: Record<string, unknown> = {}) =>
    process.stderr.write(
      json() ? `${JSON.stringify({ progress: text, ...data })}\n` : `kiosk-ops: ${text}\n`,
    );
  /** Progress while waiting: a line every `everyMs` saying how long it has waited. */
  const waitingLines = (what: string, timeoutMs: number, everyMs = 5000) => {
    const began = Date.now();
    const timer = setInterval(() => {
      const waited = Math.round((Date.now() - began) / 1000);
      progress(`still waiting for ${what} (${waited} s of ${Math.round(timeoutMs / 1000)} s)`);
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  };

  const keys = program.command('keys').description('operations signing keys (Ed25519)');
  keys
    .command('generate')
    .description(
      'write ops.key (PKCS#8 PEM, private) and ops.pub (base64 raw public key, pin it at provisioning)',
    )
    .requiredOption('--out <dir>', 'directory for ops.key and ops.pub')
    .option('--force', 'overwrite existing keys')
    .addHelpText('after', '\nExample:\n  $ kiosk-ops keys generate --out ./ops-keys')
    .action((options: { out: string; force?: boolean }) => {
      const keyFile = join(options.out, 'ops.key');
      const pubFile = join(options.out, 'ops.pub');
      if (!options.force && (existsSync(keyFile) || existsSync(pubFile)))
        throw new OpsError(`${keyFile} or ${pubFile} exists; pass --force to overwrite`);
      mkdirSync(options.out, { recursive: true });
      const pair = generateOpsKeyPair();
      writeFileSync(keyFile, pair.privateKeyPem, { mode: 0o600 });
      chmodSync(keyFile, 0o600);
      writeFileSync(pubFile, `${pair.publicKey}\n`);
      print(
        json(),
        { keyFile, pubFile, publicKey: pair.publicKey, keyId: pair.keyId },
        `wrote ${keyFile} and ${pubFile} (keyId ${pair.keyId})\npin it with: kiosk provision --ops-key ${pair.publicKey}`,
      );
    });
  keys
    .command('id')
    .description('print the keyId of a private key file')
    .argument('<key>', 'ops.key')
    .action((file: string) => {
      const keyId = keyIdOf(createPublicKey(loadKey(file)));
      print(json(), { keyId }, keyId);
    });

  addEnrolmentCommands(program, (value, text) => print(json(), value, text));
  addServeCommands(program, {
    print: (value, text) => print(json(), value, text),
    loadKey,
    readOperatorFile,
    brokerOptions: addBrokerOptions,
    refuse: (message, exitCode) => new OpsError(message, exitCode),
  });
  addRolloutCommands<BrokerOptions>(program, {
    json,
    print: (value, text) => print(json(), value, text),
    progress,
    refuse: (message, exitCode) => new OpsError(message, exitCode),
    exit: EXIT,
    addBrokerOptions,
    connect: connectBroker,
    loadKey,
    readJsonFile,
  });
  registerReleaseCommands(program, (value, text) => print(json(), value, text));

  const config = program.command('config').description('signed configuration');
  interface SignOptions {
    key: string;
    configVersion: number;
    settings: string;
    kiosk?: string[];
    fleet?: boolean;
    expiresInHours: number;
  }
  const signOptions = (command: Command) =>
    command
      .requiredOption('--key <file>', 'operations private key (ops.key)')
      .requiredOption(
        '--config-version <n>',
        'config version: must be higher than the last one pushed',
        positiveInt,
      )
      .requiredOption('--settings <file>', 'JSON file of settings (a part of the kiosk config schema)')
      .option('--kiosk <ids>', 'kiosk id(s), comma separated or repeated', kioskList)
      .option('--fleet', 'for every kiosk (on fleet/config)')
      .option('--expires-in-hours <h>', 'how long kiosks may still apply it', positiveInt, 168);
  const signedMessages = (options: SignOptions) => {
    if (!options.fleet === !options.kiosk?.length) throw new OpsError('give either --fleet or --kiosk');
    const settings = readJsonFile(options.settings, 'settings file');
    try {
      // checked against the kiosk config schema before anything is signed
      checkPushableSettings(settings);
    } catch (error) {
      if (error instanceof InvalidSettings)
        throw new OpsError(`invalid settings in ${options.settings}: ${error.message}`);
      throw error;
    }
    const key = loadKey(options.key);
    const sign = (kioskId?: string) =>
      signConfig({
        version: options.configVersion,
        settings,
        key,
        expiresInMs: options.expiresInHours * 3600_000,
        ...(kioskId ? { kioskId } : {}),
      });
    return options.fleet
      ? [{ topic: topics.fleetConfig(), message: sign() }]
      : (options.kiosk ?? []).map((kioskId) => ({ topic: topics.config(kioskId), message: sign(kioskId) }));
  };
  signOptions(config.command('sign'))
    .description('print signed config.push message(s), one JSON per line, to push later')
    .action((options: SignOptions) => {
      for (const { topic, message } of signedMessages(options)) print(true, { topic, message }, '');
    });
  addBrokerOptions(signOptions(config.command('push')))
    .description(
      "sign and publish config (retained, QoS 1); --wait collects the kiosks' config.result (with --fleet: from every kiosk online)",
    )
    .option('--wait', 'wait for config.result events')
    .option('--timeout <ms>', 'how long --wait waits', positiveInt, 30_000)
    .option(
      '--settle <ms>',
      'how long --wait gathers retained statuses to know the kiosks',
      positiveInt,
      1500,
    )
    .action(
      async (options: SignOptions & BrokerOptions & { wait?: boolean; timeout: number; settle: number }) => {
        const messages = signedMessages(options);
        const client = await connectBroker(options);
        try {
          const ids = new Set(messages.map(({ message }) => message.id));
          const publishAll = async () => {
            for (const { topic, message } of messages)
              await client.publishAsync(topic, JSON.stringify(message), { qos: 1, retain: true });
          };
          if (!options.wait) {
            await publishAll();
            print(
              json(),
              messages.map(({ topic, message }) => ({ topic, id: message.id })),
              `pushed ${messages.length} config message(s), version ${options.configVersion}`,
            );
            return;
          }
          // for the fleet, wait for every kiosk the retained statuses show online
          const known = await retainedStatuses(client, options.settle, options.kiosk);
          if (options.kiosk) requireKnown(known, options.kiosk);
          const expected =
            options.kiosk?.length ?? [...known.values()].filter((kiosk) => kiosk.status.online).length;
          const offline = (options.kiosk ?? []).filter((id) => known.get(id)?.status.online === false);
          progress(
            `pushing version ${options.configVersion}; waiting up to ${Math.round(options.timeout / 1000)} s for ${expected} kiosk(s)${offline.length > 0 ? ` (offline now: ${offline.join(', ')})` : ''}`,
            { expected, offline },
          );
          const stopWaiting = waitingLines(`${expected} kiosk(s)`, options.timeout);
          const results = await collect(
            client,
            topics.allEvents(),
            (topic, payload) => {
              try {
                const message = decodeMessage(payload, 'config.result');
                if (!ids.has(message.body.configId)) return undefined;
                return { kioskId: parseKioskTopic(topic)?.kioskId ?? '?', ...message.body };
              } catch (error) {
                if (error instanceof InvalidMessage) return undefined;
                throw error;
              }
            },
            (items) => {
              const last = items.at(-1);
              // pending-restart is not the end: `applied` follows once the kiosk restarted at idle
              const answered = new Set(items.filter(isFinalResult).map((item) => item.kioskId)).size;
              if (last) progress(`${answered}/${expected} answered (${last.kioskId}: ${last.status})`);
              return answered >= expected;
            },
            options.timeout,
            publishAll,
          ).finally(stopWaiting);
          if (json()) print(true, results, '');
          else
            for (const result of results)
              print(
                false,
                result,
                `${result.kioskId}\t${result.status}${result.reason ? ` (${result.reason})` : ''}${result.restartRequired ? `\trestart needed: ${result.restartRequired.join(', ')}` : ''}`,
              );
          const finals = results.filter(isFinalResult);
          if (finals.length < expected)
            throw new OpsError(
              `only ${finals.length} of ${expected} kiosks answered within ${options.timeout} ms${finals.length < results.length ? ' (others wait for a restart)' : ''}`,
              EXIT.noAnswer,
            );
          else if (finals.some((result) => result.status !== 'applied')) process.exitCode = 1;
        } finally {
          await client.endAsync();
        }
      },
    );

  const cmd = program.command('cmd').description('signed commands');
  addBrokerOptions(
    cmd
      .command('send')
      .description('send a signed command to one kiosk; --wait prints its cmd/result')
      .argument('<name>', KIOSK_COMMANDS.join(', '))
      .requiredOption('--key <file>', 'operations private key (ops.key)')
      .requiredOption('--kiosk <id>', 'the kiosk')
      .option('--arg <key=value>', 'command argument (repeatable)', argPair)
      .option('--expires-in <ms>', 'how long the kiosk may still run it', positiveInt, 300_000)
      .option('--wait', 'wait for the answer on cmd/result')
      .option('--timeout <ms>', 'how long --wait waits', positiveInt, 30_000)
      .option('--settle <ms>', "how long --wait looks for the kiosk's retained status", positiveInt, 1500),
  ).action(
    async (
      name: string,
      options: BrokerOptions & {
        key: string;
        kiosk: string;
        arg?: Record<string, string | number | boolean>;
        expiresIn: number;
        wait?: boolean;
        timeout: number;
        settle: number;
      },
    ) => {
      if (!isKioskCommand(name))
        throw new OpsError(`unknown command "${name}"; a kiosk runs: ${KIOSK_COMMANDS.join(', ')}`);
      const message = signCommand({
        name,
        kioskId: options.kiosk,
        key: loadKey(options.key),
        expiresInMs: options.expiresIn,
        ...(options.arg ? { args: options.arg } : {}),
      });
      const client = await connectBroker(options);
      try {
        const publish = () =>
          client
            .publishAsync(topics.cmd(options.kiosk), JSON.stringify(message), { qos: 1 })
            .then(() => undefined);
        if (!options.wait) {
          await publish();
          print(
            json(),
            { id: message.id, correlationId: message.correlationId },
            `sent ${name} to ${options.kiosk}`,
          );
          return;
        }
        const known = await retainedStatuses(client, options.settle, [options.kiosk]);
        requireKnown(known, [options.kiosk]);
        const kiosk = known.get(options.kiosk);
        progress(
          kiosk?.status.online
            ? `${options.kiosk} is online; sending ${name}, waiting up to ${Math.round(options.timeout / 1000)} s for its answer`
            : `${options.kiosk} is offline (last seen ${kiosk ? ago(kiosk.ts) : '?'}); the broker keeps ${name} for it; waiting up to ${Math.round(options.timeout / 1000)} s`,
          { kioskId: options.kiosk, online: kiosk?.status.online ?? false },
        );
        const stopWaiting = waitingLines(`the answer of ${options.kiosk}`, options.timeout);
        const [answer] = await collect(
          client,
          topics.cmdResult(options.kiosk),
          (_topic, payload) => {
            try {
              const reply: Envelope<MessageBody<'command.result'>> = decodeMessage(payload, 'command.result');
              return reply.correlationId === message.correlationId ? reply.body : undefined;
            } catch (error) {
              if (error instanceof InvalidMessage) return undefined;
              throw error;
            }
          },
          (items) => items.length > 0,
          options.timeout,
          publish,
        ).finally(stopWaiting);
        if (!answer)
          throw new OpsError(`no answer from ${options.kiosk} within ${options.timeout} ms`, EXIT.noAnswer);
        print(
          json(),
          answer,
          `${options.kiosk}\t${answer.name}\t${answer.status}${answer.reason ? ` (${answer.reason})` : ''}${answer.data ? `\n${JSON.stringify(answer.data, null, 2)}` : ''}`,
        );
        if (answer.status !== 'ok') process.exitCode = 1;
      } finally {
        await client.endAsync();
      }
    },
  );

  addBrokerOptions(
    program
      .command('fleet')
      .description(
        'the fleet from the retained statuses: online, last seen, versions, config version, in or out of service (and why), queue, devices',
      )
      .option('--watch', 'keep the table live until Ctrl-C')
      .option('--settle <ms>', 'how long to gather retained statuses', positiveInt, 1000),
  )
    .addHelpText('after', '\nExample:\n  $ kiosk-ops fleet --url mqtts://broker:8883 --watch')
    .action(async (options: BrokerOptions & { watch?: boolean; settle: number }) => {
      const client = await connectBroker(options);
      const rows = new Map<string, FleetRow>();
      const render = () => {
        const sorted = [...rows.values()].sort((a, b) => a.kioskId.localeCompare(b.kioskId));
        if (json()) print(true, sorted, '');
        else {
          if (options.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          print(false, sorted, fleetTable(sorted));
        }
      };
      client.on('message', (topic, payload) => {
        const kioskId = parseKioskTopic(topic)?.kioskId;
        if (!kioskId || payload.length === 0) return;
        try {
          const message = decodeMessage(payload, 'kiosk.status');
          rows.set(kioskId, fleetRow(kioskId, message.body, message.ts, rows.get(kioskId)));
          if (options.watch) scheduleRender();
        } catch (error) {
          if (!(error instanceof InvalidMessage)) throw error;
        }
      });
      let pending: NodeJS.Timeout | undefined;
      const scheduleRender = () => {
        pending ??= setTimeout(() => {
          pending = undefined;
          render();
        }, 200);
      };
      await client.subscribeAsync(topics.allStatuses(), { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, options.settle));
      render();
      if (options.watch) {
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        clearTimeout(pending);
      }
      await client.endAsync();
    });
  return program;
}

export interface FleetRow {
  kioskId: string;
  online: boolean;
  /** when the kiosk last published its status (an offline one: its goodbye, or its last will) */
  lastSeen: string;
  version: string | null;
  /** config versions in force (fleet-wide, own); null when the kiosk does not say */
  configVersions: { fleet: number; kiosk: number } | null;
  locked: boolean | null;
  /** why the kiosk serves no citizens; null while in service */
  outOfService: string | null;
  devices: Record<string, string>;
  queueDepth: number | null;
}

/** A row from a kiosk's status; what an offline kiosk's last will leaves out is kept from before. */
function fleetRow(kioskId: string, status: StatusBody, ts: string, previous?: FleetRow): FleetRow {
  const said = status.online || status.version !== undefined;
  return {
    kioskId,
    online: status.online,
    lastSeen: ts,
    version: status.version ?? previous?.version ?? null,
    configVersions: status.configVersions ?? previous?.configVersions ?? null,
    locked: status.locked ?? previous?.locked ?? null,
    outOfService: said ? (status.outOfService ?? null) : (previous?.outOfService ?? null),
    devices: status.devices ?? previous?.devices ?? {},
    queueDepth: status.queueDepth ?? null,
  };
}

export function fleetTable(rows: readonly FleetRow[], now = Date.now()): string {
  const header = ['KIOSK', 'ONLINE', 'LAST SEEN', 'VERSION', 'CONFIG', 'QUEUE', 'DEVICES', 'SERVICE'];
  const lines = rows.map((row) => {
    const unwell = Object.entries(row.devices).filter(([, state]) => state !== 'ok' && state !== 'disabled');
    const devices =
      Object.keys(row.devices).length === 0
        ? '-'
        : unwell.length === 0
          ? `all ok (${Object.keys(row.devices).length})`
          : unwell.map(([name, state]) => `${name}:${state}`).join(' ');
    const service = row.outOfService ? `OUT: ${row.outOfService}` : row.locked === null ? '-' : 'in service';
    return [
      row.kioskId,
      row.online ? 'yes' : 'NO',
      row.online ? 'now' : ago(row.lastSeen, now),
      row.version ?? '-',
      row.configVersions ? `f${row.configVersions.fleet}/k${row.configVersions.kiosk}` : '-',
      row.queueDepth?.toString() ?? '-',
      devices,
      service,
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]?.length ?? 0)),
  );
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  const online = rows.filter((row) => row.online).length;
  const out = rows.filter((row) => row.outOfService).length;
  return [
    format(header),
    ...lines.map(format),
    `${rows.length} kiosks, ${online} online, ${out} out of service`,
  ].join('\n');
}

/** One line on stderr (JSON with --json) and the exit code; never a stack trace. */
function fail(message: string, exitCode: number): void {
  const asJson = process.argv.includes('--json');
  process.stderr.write(
    asJson ? `${JSON.stringify({ error: message, exitCode })}\n` : `kiosk-ops: ${message}\n`,
  );
  process.exitCode = exitCode;
}

const program = buildKioskOpsCli();
program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof OpsError) fail(error.message, error.exitCode);
  else if (error instanceof CommanderError) {
    // help and version end with exit code 0; commander already printed its own one-line errors
    process.exitCode = error.exitCode;
  } else {
    // a bug, not an operator's mistake: still one line, named so it can be reported
    fail(`internal error: ${reasonOf(error)}`, 70);
  }
}

/** A config.result after which nothing more comes for that config (not `pending-restart`). */
function isFinalResult(result: { status: string }): boolean {
  return result.status !== 'pending-restart';
}

#!/usr/bin/env node
/**
 * `kiosk-ops`: the operations centre's tool. Generates operations keys, signs and pushes
 * configuration (retained, QoS 1) to one kiosk, a list or the fleet, sends signed commands and
 * waits for their `cmd/result`, and shows the fleet from the kiosks' retained statuses.
 * Every command takes `--json` for machine-readable output.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generateOpsKeyPair, keyIdOf, privateKeyFromPem, signCommand, signConfig } from '../fleet/index.js';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeMessage, type Envelope, InvalidMessage, type MessageBody } from '../link/messages.js';
import { parseKioskTopic, topics } from '../link/topics.js';
import { runtimeVersion } from '../util/version.js';
import { addEnrolmentCommands } from './enrolment-admin.js';

interface GlobalOptions {
  json?: boolean;
}
interface BrokerOptions {
  url: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function positiveInt(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return number;
}

function kioskList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean),
  ];
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
  return privateKeyFromPem(readFileSync(file, 'utf8'));
}

async function connectBroker(options: BrokerOptions): Promise<MqttClient> {
  const clientOptions: IClientOptions = {
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    clientId: `kiosk-ops-${process.pid}-${Date.now().toString(36)}`,
  };
  if (options.tlsCa) clientOptions.ca = readFileSync(options.tlsCa);
  if (options.tlsCert) clientOptions.cert = readFileSync(options.tlsCert);
  if (options.tlsKey) clientOptions.key = readFileSync(options.tlsKey);
  return mqtt.connectAsync(options.url, clientOptions);
}

function addBrokerOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'broker URL').env('KIOSK_OPS_URL').makeOptionMandatory())
    .option('--tls-ca <file>', 'PEM of the broker CA')
    .option('--tls-cert <file>', "PEM of operations' client certificate")
    .option('--tls-key <file>', "PEM of operations' client key");
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

/** Ids of the kiosks whose retained status says online (gathered for `settleMs`). */
async function onlineKiosks(client: MqttClient, settleMs = 1000): Promise<string[]> {
  const online = new Set<string>();
  const listener = (topic: string, payload: Buffer) => {
    const kioskId = parseKioskTopic(topic)?.kioskId;
    if (!kioskId || parseKioskTopic(topic)?.leaf !== 'status') return;
    try {
      if (decodeMessage(payload, 'kiosk.status').body.online) online.add(kioskId);
      else online.delete(kioskId);
    } catch (error) {
      if (!(error instanceof InvalidMessage)) throw error;
    }
  };
  client.on('message', listener);
  await client.subscribeAsync(topics.allStatuses(), { qos: 1 });
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  await client.unsubscribeAsync(topics.allStatuses());
  client.off('message', listener);
  return [...online];
}

export function buildKioskOpsCli(): Command {
  const program = new Command('kiosk-ops')
    .description('cccd-kiosk operations: sign and push configuration, send commands, watch the fleet')
    .version(runtimeVersion(), '-V, --version')
    .option('--json', 'machine-readable output (one JSON document per line)')
    .showHelpAfterError()
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

Commands a kiosk runs: lock, unlock, restart, purge-sessions, resync-manifest,
collect-diagnostics, set-log-level (--arg level=…). The broker URL may come from KIOSK_OPS_URL.`,
    );
  const json = () => program.opts<GlobalOptions>().json;

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
        throw new InvalidArgumentError(`${keyFile} or ${pubFile} exists; pass --force to overwrite`);
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
    if (!options.fleet === !options.kiosk?.length)
      throw new InvalidArgumentError('give either --fleet or --kiosk');
    const settings: unknown = JSON.parse(readFileSync(options.settings, 'utf8'));
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
      throw new InvalidArgumentError('settings must be a JSON object');
    const key = loadKey(options.key);
    const sign = (kioskId?: string) =>
      signConfig({
        version: options.configVersion,
        settings: settings as Record<string, unknown>,
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
    .action(async (options: SignOptions & BrokerOptions & { wait?: boolean; timeout: number }) => {
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
        const expected = options.kiosk?.length ?? (await onlineKiosks(client)).length;
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
          (items) => new Set(items.map((item) => item.kioskId)).size >= expected,
          options.timeout,
          publishAll,
        );
        if (json()) print(true, results, '');
        else
          for (const result of results)
            print(
              false,
              result,
              `${result.kioskId}\t${result.status}${result.reason ? ` (${result.reason})` : ''}${result.restartRequired ? `\trestart needed: ${result.restartRequired.join(', ')}` : ''}`,
            );
        if (results.length < expected) {
          process.stderr.write(
            `only ${results.length} of ${expected} kiosks answered within ${options.timeout} ms\n`,
          );
          process.exitCode = 2;
        } else if (results.some((result) => result.status !== 'applied')) process.exitCode = 1;
      } finally {
        await client.endAsync();
      }
    });

  const cmd = program.command('cmd').description('signed commands');
  addBrokerOptions(
    cmd
      .command('send')
      .description('send a signed command to one kiosk; --wait prints its cmd/result')
      .argument(
        '<name>',
        'lock, unlock, restart, purge-sessions, resync-manifest, collect-diagnostics, set-log-level, reassert-state',
      )
      .requiredOption('--key <file>', 'operations private key (ops.key)')
      .requiredOption('--kiosk <id>', 'the kiosk')
      .option('--arg <key=value>', 'command argument (repeatable)', argPair)
      .option('--expires-in <ms>', 'how long the kiosk may still run it', positiveInt, 300_000)
      .option('--wait', 'wait for the answer on cmd/result')
      .option('--timeout <ms>', 'how long --wait waits', positiveInt, 30_000),
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
      },
    ) => {
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
        );
        if (!answer) {
          process.stderr.write(`no answer from ${options.kiosk} within ${options.timeout} ms\n`);
          process.exitCode = 2;
          return;
        }
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
      .description('the fleet from the retained statuses: online, version, device health, queue depth')
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
          const status = decodeMessage(payload, 'kiosk.status').body;
          rows.set(kioskId, {
            kioskId,
            online: status.online,
            version: status.version ?? rows.get(kioskId)?.version ?? null,
            devices: status.devices ?? rows.get(kioskId)?.devices ?? {},
            queueDepth: status.queueDepth ?? null,
          });
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
  version: string | null;
  devices: Record<string, string>;
  queueDepth: number | null;
}

export function fleetTable(rows: readonly FleetRow[]): string {
  const header = ['KIOSK', 'ONLINE', 'VERSION', 'DEVICES', 'QUEUE'];
  const lines = rows.map((row) => {
    const unwell = Object.entries(row.devices).filter(([, state]) => state !== 'ok' && state !== 'disabled');
    const devices =
      Object.keys(row.devices).length === 0
        ? '-'
        : unwell.length === 0
          ? `all ok (${Object.keys(row.devices).length})`
          : unwell.map(([name, state]) => `${name}:${state}`).join(' ');
    return [
      row.kioskId,
      row.online ? 'yes' : 'NO',
      row.version ?? '-',
      devices,
      row.queueDepth?.toString() ?? '-',
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
  return [format(header), ...lines.map(format), `${rows.length} kiosks, ${online} online`].join('\n');
}

const program = buildKioskOpsCli();
program.exitOverride((error) => {
  process.exitCode = error.exitCode;
  throw error;
});
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InvalidArgumentError || (error as { code?: string }).code?.startsWith('commander.')) {
    if (error instanceof InvalidArgumentError) process.stderr.write(`kiosk-ops: ${error.message}\n`);
    process.exitCode ||= 1;
  } else throw error;
}

/**
 * `kiosk-ops serve` (the operations dashboard, src/ops/dashboard) and `kiosk-ops operator add`
 * (a line of its password file). Kept apart from kiosk-ops.ts, which runs its program on import.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { KeyObject } from 'node:crypto';
import {
  BadPasswordFile,
  BrokerUnreachable,
  hashPassword,
  isOperatorName,
  parsePasswordFile,
  startDashboard,
} from '../ops/dashboard/index.js';
import { dashboardRollouts } from '../ops/dashboard/rollout-engine.js';
import { createLogger } from '../util/log.js';

export interface ServeDeps {
  print: (value: unknown, text: string) => void;
  loadKey: (file: string) => KeyObject;
  readOperatorFile: (file: string, what: string) => string;
  brokerOptions: (command: Command) => Command;
  /** an operator's mistake: one line and the exit code, no stack trace (kiosk-ops' OpsError) */
  refuse: (message: string, exitCode?: number) => Error;
}

interface ServeOptions {
  url: string;
  connectTimeout: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  key: string;
  passwords: string;
  host: string;
  port: number;
  hostName?: string[];
  opsDir?: string;
  logLevel: string;
}

function port(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0 || number > 65_535)
    throw new InvalidArgumentError('expected a port (0 picks a free one)');
  return number;
}

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return (Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '').replace(/\r$/, '');
}

export function addServeCommands(program: Command, deps: ServeDeps): void {
  const operator = program.command('operator').description('operators of the dashboard (`kiosk-ops serve`)');
  operator
    .command('add')
    .description(
      'add or replace an operator in the password file (scrypt hash); the password is read from stdin',
    )
    .argument('<name>', 'operator name (a-z, 0-9, . _ -)')
    .requiredOption('--passwords <file>', 'the password file (created 0600 if missing)')
    .addHelpText(
      'after',
      '\nExample:\n  $ kiosk-ops operator add alice --passwords ops-keys/operators < password.txt',
    )
    .action(async (name: string, options: { passwords: string }) => {
      if (!isOperatorName(name)) throw deps.refuse('operator name: a-z, 0-9, . _ - (up to 32)');
      let line: string;
      try {
        line = hashPassword(name, await readStdinLine());
      } catch (error) {
        if (error instanceof BadPasswordFile) throw deps.refuse(error.message);
        throw error;
      }
      const kept = existsSync(options.passwords)
        ? readFileSync(options.passwords, 'utf8')
            .split('\n')
            .filter((existing) => existing.trim() !== '' && !existing.startsWith(`${name}:`))
        : [];
      writeFileSync(options.passwords, `${[...kept, line].join('\n')}\n`, { mode: 0o600 });
      chmodSync(options.passwords, 0o600);
      deps.print(
        { operator: name, file: options.passwords },
        `operator ${name} written to ${options.passwords}`,
      );
    });

  deps
    .brokerOptions(
      program
        .command('serve')
        .description(
          'the operations dashboard: fleet table, kiosk detail, signed actions and rollouts, behind an operator login',
        )
        .requiredOption('--key <file>', 'operations private key (ops.key): every action is signed with it')
        .requiredOption('--passwords <file>', 'operators and their scrypt hashes (kiosk-ops operator add)')
        .option(
          '--host <address>',
          'address to listen on (loopback: put TLS in front to serve further)',
          '127.0.0.1',
        )
        .option('--port <port>', 'port (0 picks a free one)', port, 8090)
        .option('--host-name <name...>', 'names the dashboard is reached by, besides localhost')
        .option('--ops-dir <dir>', 'where rollout records are kept (default: the folder of --key)')
        .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info'),
    )
    .addHelpText(
      'after',
      '\nExample:\n  $ kiosk-ops serve --url mqtts://broker:8883 --key ops-keys/ops.key --passwords ops-keys/operators',
    )
    .action(async (options: ServeOptions) => {
      const key = deps.loadKey(options.key);
      const passwords = deps.readOperatorFile(options.passwords, 'password file');
      const log = createLogger({ level: options.logLevel, pretty: false });
      try {
        parsePasswordFile(passwords);
      } catch (error) {
        if (error instanceof BadPasswordFile)
          throw deps.refuse(`password file ${options.passwords}: ${error.message}`);
        throw error;
      }
      const dashboard = await startDashboard({
        broker: {
          url: options.url,
          connectTimeoutMs: options.connectTimeout,
          ...(options.tlsCa ? { ca: deps.readOperatorFile(options.tlsCa, 'TLS CA file') } : {}),
          ...(options.tlsCert
            ? { cert: deps.readOperatorFile(options.tlsCert, 'TLS certificate file') }
            : {}),
          ...(options.tlsKey ? { key: deps.readOperatorFile(options.tlsKey, 'TLS key file') } : {}),
        },
        key,
        passwords,
        host: options.host,
        port: options.port,
        log,
        ...(options.hostName ? { hostNames: options.hostName } : {}),
        rollouts: dashboardRollouts(options.opsDir ?? dirname(options.key), log),
      }).catch((error: unknown) => {
        if (error instanceof BrokerUnreachable)
          throw deps.refuse(
            `cannot reach the broker at ${options.url.replace(/\/\/[^@/]*@/, '//***@')}: ${error.message}`,
            3,
          );
        const code = (error as { code?: string }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
          throw deps.refuse(`cannot listen on ${options.host}:${options.port}: ${code}`);
        throw error;
      });
      deps.print({ url: dashboard.url }, `kiosk-ops serve: dashboard at ${dashboard.url}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await dashboard.stop();
    });
}

#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfigFile } from '../config/index.js';
import { runKiosk } from '../main.js';
import { DemoUnavailable, loadDemo } from './demo-loader.js';
import { runtimeVersion } from '../util/version.js';
import { registerCardCommands } from './card.js';
import { registerPickupCommands } from './pickup.js';
import { registerProvisionCommand } from './provision.js';
import { runVaultCommand } from './vault.js';
import { runQueueCommand } from './queue.js';
import { registerUpdateCommand } from './update.js';

function portNumber(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('expected a port 0–65535');
  return port;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

export function buildKioskCli(): Command {
  const program = new Command('kiosk')
    .description('cccd-kiosk: the runtime of a self-service CCCD kiosk')
    .version(runtimeVersion(), '-V, --version')
    // `kiosk --version` only before a subcommand: `kiosk update --version 0.1.2` is update's own option
    .enablePositionalOptions()
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  $ kiosk demo                                 run everything on this machine (emulated devices)
  $ kiosk start --config /etc/cccd-kiosk/kiosk.json
  $ kiosk config check ./kiosk.json            validate a configuration file
  $ KIOSK_MQTT_URL=mqtts://broker:8883 kiosk start --config kiosk.json`,
    );

  program
    .command('start')
    .description('run the kiosk runtime from a configuration file')
    .requiredOption('-c, --config <file>', 'configuration file (JSON); KIOSK_* variables override it')
    .action(async (options: { config: string }) => {
      const config = await loadConfigFile(options.config);
      await runKiosk(config);
    });

  program
    .command('demo')
    .description(
      'run a complete kiosk on this machine: embedded broker, reference registry, emulated devices, UI',
    )
    .option('--data-dir <dir>', 'where the demo keeps its files', './var/demo')
    .option('--ui-port <port>', 'UI port (a free one is used if taken; 0 picks one)', portNumber, 8080)
    .option('--broker-port <port>', 'embedded broker port (a free one is used if taken)', portNumber, 1883)
    .option('--kiosk-id <id>', 'kiosk id of the demo kiosk', 'demo-0001')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
    .option(
      '--identify-per-minute <n>',
      'identification attempts a minute at the touchscreen (the rate limit against ID probing)',
      positiveInteger,
    )
    .option(
      '--no-kiosk',
      'run only the world around a kiosk (broker, registry, emulators) to provision against',
    )
    .addHelpText(
      'after',
      '\nExample:\n  $ kiosk demo --ui-port 8081\n  $ kiosk demo --no-kiosk     then: kiosk provision (the command it prints)',
    )
    .action(
      async (options: {
        dataDir: string;
        uiPort: number;
        brokerPort: number;
        kioskId: string;
        logLevel: string;
        kiosk: boolean;
        identifyPerMinute?: number;
      }) => {
        await (await loadDemo()).runDemo(options);
      },
    );

  const config = program.command('config').description('work with configuration files');
  config
    .command('check')
    .description('validate a configuration file (exit 0 if good, 1 with the reasons if not)')
    .argument('<file>', 'configuration file (JSON)')
    .addHelpText('after', '\nExample:\n  $ kiosk config check /etc/cccd-kiosk/kiosk.json')
    .action(async (file: string) => {
      const parsed = await loadConfigFile(file);
      process.stdout.write(
        `${file}: ok (kiosk ${parsed.kiosk.id}, broker ${parsed.mqtt.url.replace(/\/\/[^@/]*@/, '//***@')})\n`,
      );
    });
  registerCardCommands(program);

  program
    .command('devices')
    .description('work with serial devices')
    .command('scan')
    .description('list serial ports and identify which device answers on which')
    .option('--path <path...>', 'also try these paths (e.g. ptys)')
    .addHelpText('after', '\nExample:\n  $ kiosk devices scan')
    .action(async (options: { path?: string[] }) => {
      const { identifyDevice, listSerialPorts } = await import('../../devices/index.js');
      const { ports, warning } = await listSerialPorts();
      if (warning) process.stdout.write(`note: ${warning}\n`);
      const candidates = [
        ...ports,
        ...(options.path ?? []).map((path) => ({ path, description: undefined })),
      ];
      if (candidates.length === 0) process.stdout.write('no serial ports found\n');
      for (const port of candidates) {
        process.stdout.write(`${port.path}${port.description ? ` (${port.description})` : ''}: `);
        const kind = await identifyDevice(port.path);
        process.stdout.write(`${kind ?? 'no known device answers'}\n`);
      }
    });

  program
    .command('doctor')
    .description('self-test every configured device with a real exchange (exit 1 if any is not ok)')
    .requiredOption('-c, --config <file>', 'configuration file (the demo writes <data dir>/kiosk.json)')
    .option('--json', 'print the results as JSON')
    .addHelpText('after', '\nExample:\n  $ kiosk doctor --config ./var/demo/kiosk.json')
    .action(async (options: { config: string; json?: boolean }) => {
      const config = await loadConfigFile(options.config);
      const { runDoctor } = await import('./doctor.js');
      process.exitCode = await runDoctor(config, {
        json: options.json ?? false,
        write: (line) => process.stdout.write(line),
      });
    });
  program
    .command('queue')
    .description("the kiosk's local queue: events in the outbox waiting for the broker, and the oldest's age")
    .requiredOption('-c, --config <file>', 'configuration file (its dataDir holds the store)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ kiosk queue --config kiosk.json --json')
    .action(async (options: { config: string; json?: boolean }) => {
      const config = await loadConfigFile(options.config);
      process.exitCode = await runQueueCommand(config, options.json ?? false);
    });
  registerProvisionCommand(program);
  registerUpdateCommand(program);
  registerPickupCommands(program);
  program
    .command('vault')
    .description(
      'the card vault: load cards a technician put into slots, clear a card the mechanics left outside its slot (kiosk stopped), or show the inventory',
    )
    .argument('[action]', 'load, clear or status', 'status')
    .requiredOption('-c, --config <file>', 'configuration file')
    .option('--slots <list>', 'load: slots holding new cards, e.g. 0,1,2; clear: the slot of the card', '')
    .addOption(new Option('--to <where>', 'clear: where you put the card').choices(['slot', 'bin']))
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kiosk vault load --slots 0,1,2 --config kiosk.json\n  $ kiosk vault status --config kiosk.json\n  $ kiosk vault clear --slots 3 --to bin --config kiosk.json',
    )
    .action(
      async (
        action: string,
        options: { config: string; slots: string; to?: 'slot' | 'bin'; json?: boolean },
      ) => {
        if (action !== 'load' && action !== 'status' && action !== 'clear')
          throw new InvalidArgumentError(
            `unknown action ${JSON.stringify(action)}: use load, clear or status`,
          );
        const slots = options.slots === '' ? [] : options.slots.split(',').map(Number);
        if (slots.some((slot) => !Number.isInteger(slot) || slot < 0 || slot > 63))
          throw new InvalidArgumentError('--slots: slot numbers 0–63, comma-separated');
        if (action === 'load' && slots.length === 0)
          throw new InvalidArgumentError('vault load needs --slots');
        if (action === 'clear' && (slots.length !== 1 || options.to === undefined))
          throw new InvalidArgumentError('vault clear needs one --slots N and --to slot|bin');
        const config = await loadConfigFile(options.config);
        process.exitCode = await runVaultCommand(config, action, {
          slots,
          ...(options.to ? { to: options.to } : {}),
          json: options.json ?? false,
        });
      },
    );
  return program;
}

try {
  await buildKioskCli().parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || error instanceof DemoUnavailable) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  // a bad argument found in an action: one line and exit 1, as commander does for its own parse errors
  if (error instanceof InvalidArgumentError) {
    process.stderr.write(`kiosk: ${error.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`kiosk: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}

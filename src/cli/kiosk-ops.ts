#!/usr/bin/env node
import { Command } from 'commander';
import { runtimeVersion } from '../util/version.js';

/** The operations centre's tool. Its commands (keys, signed config, commands, fleet table) come with fleet operations. */
const program = new Command('kiosk-ops')
  .description('cccd-kiosk operations: sign and push configuration, send commands, watch the fleet')
  .version(runtimeVersion(), '-V, --version')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
This tool has no commands yet: key generation, signed configuration, commands and the fleet table
arrive with the fleet operations work. Run "kiosk --help" for the kiosk itself.`,
  );

await program.parseAsync(process.argv);

/**
 * `kiosk update`: install a signed release from the ops repository (HTTPS, pinned ops CA) or from
 * a directory (`--from /media/usb`, no network), and the release switches a technician or
 * systemd needs: switch now, roll back, mark good.
 */
import { readFile } from 'node:fs/promises';
import { type Command } from 'commander';
import { loadConfigFile } from '../config/index.js';
import { UPDATE_DEFAULTS, type UpdateSettings } from '../config/update-schema.js';
import { UpdateRefused } from '../update/errors.js';
import { hostIdentityOf } from '../update/runtime-update.js';
import {
  clearPendingSwitch,
  markReleaseGood,
  pruneReleases,
  requestSwitch,
  rollBackRelease,
  switchRelease,
} from '../update/releases.js';
import type { UpdateSource } from '../update/transport.js';
import { stageUpdate } from '../update/updater.js';

interface UpdateOptions {
  config?: string;
  from?: string;
  root?: string;
  version?: string;
  now?: boolean;
  json?: boolean;
}

async function settingsOf(options: UpdateOptions): Promise<UpdateSettings> {
  const fromConfig = options.config ? (await loadConfigFile(options.config)).update : undefined;
  const settings: UpdateSettings = fromConfig ?? { ...UPDATE_DEFAULTS };
  return options.root ? { ...settings, installRoot: options.root } : settings;
}

async function sourceOf(options: UpdateOptions, settings: UpdateSettings): Promise<UpdateSource> {
  if (options.from) return { kind: 'directory', dir: options.from };
  if (!settings.repositoryUrl || !settings.caFile)
    throw new UpdateRefused(
      'unreachable',
      'no --from directory, and no update.repositoryUrl + update.caFile in the configuration',
    );
  return { kind: 'https', baseUrl: settings.repositoryUrl, ca: await readFile(settings.caFile) };
}

function report(json: boolean | undefined, value: object, text: string): void {
  console.log(json ? JSON.stringify(value) : text);
}

async function runUpdate(options: UpdateOptions): Promise<void> {
  const settings = await settingsOf(options);
  const root = settings.installRoot;
  const staged = await stageUpdate({
    root,
    source: await sourceOf(options, settings),
    host: await hostIdentityOf(root),
    version: options.version,
    maxBytesPerSecond: settings.maxBytesPerSecond,
  });
  if (options.now) {
    const { from } = await switchRelease(root, staged.version);
    // an earlier install without --now is superseded: the guard must not switch back to it
    await clearPendingSwitch(root);
    await pruneReleases(root);
    report(
      options.json,
      { ...staged, switched: true, from },
      `switched ${from ?? '(none)'} -> ${staged.version}; restart the service`,
    );
  } else {
    await requestSwitch(root, staged.version);
    report(
      options.json,
      { ...staged, switched: false },
      `${staged.version} verified and installed; a running kiosk switches to it at its next idle ` +
        'moment (it restarts between sessions), a stopped one at its next start',
    );
  }
}

export function registerUpdateCommand(program: Command): void {
  const update = program
    .command('update')
    .description('install a signed release (TUF) from the ops repository or a USB directory')
    .option('-c, --config <file>', 'configuration file (update.repositoryUrl, update.caFile, bandwidth cap)')
    .option('--from <dir>', 'a copy of the release repository (USB stick): no network is used')
    .option('--root <dir>', 'install root with releases/ and current', undefined)
    .option('--version <version>', 'install this version (default: the newest signed one)')
    .option(
      '--now',
      'switch at once instead of at the next idle moment (the service must be stopped or restarted)',
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kiosk update --from /media/usb --root /opt/cccd-kiosk --now\n  $ kiosk update --config /etc/cccd-kiosk/kiosk.json',
    )
    .action(async (options: UpdateOptions) => {
      try {
        await runUpdate(options);
      } catch (error) {
        if (!(error instanceof UpdateRefused)) throw error;
        report(
          options.json,
          { refused: error.reason, detail: error.detail },
          `kiosk update: refused (${error.reason}): ${error.detail}`,
        );
        process.exitCode = 1;
      }
    });
  update
    .command('rollback')
    .description('switch back to the previous release (deploy/release-guard.sh does this on a crash loop)')
    .requiredOption('--root <dir>', 'install root')
    .option('--reason <text>', 'why (reported to operations)', 'technician')
    .action(async (options: { root: string; reason: string }) => {
      const record = await rollBackRelease(options.root, options.reason);
      console.log(
        record ? `rolled back ${record.from} -> ${record.to}` : 'no previous release to roll back to',
      );
      if (!record) process.exitCode = 1;
    });
  update
    .command('good')
    .description('mark the release on probation good')
    .requiredOption('--root <dir>', 'install root')
    .action(async (options: { root: string }) => {
      const version = await markReleaseGood(options.root);
      console.log(version ? `${version} marked good` : 'no release on probation');
    });
}

import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { type BacKey } from '../card/bac.js';
import { type CardAccess } from '../card/access.js';
import { TrustListError } from '../card/errors.js';
import { describeTrustList } from '../card/trust-list.js';
import { loadConfigFile } from '../config/index.js';
import { withPushedSettings } from '../fleet/persisted.js';
import { loadCardTrust } from '../kiosk/card-trust.js';
import { createLogger } from '../util/log.js';
import { CardError } from '../card/errors.js';
import { parseTrustList } from '../card/pa.js';
import { type CardReadResult, readCard } from '../card/reader.js';
import { type CardTransport } from '../card/transport.js';
import { bacKeyFromMrz, bacKeyFromQr, parseCccdMrz } from '../cccd/mrz.js';
import { parseQr } from '../cccd/qr.js';
import { CccdError } from '../cccd/errors.js';
import { maskIdNumber } from '../util/pii.js';
import { PcscCardReader } from '../../devices/card-reader/driver.js';
import { loadDemo } from './demo-loader.js';

interface CardReadOptions {
  mrz?: string;
  qr?: string;
  can?: string;
  requirePace?: boolean;
  reader?: string;
  emulate?: boolean;
  trust?: string;
  showPii?: boolean;
  timeout: number;
}

function bacKeyFrom(options: CardReadOptions): BacKey | undefined {
  if (options.can && !options.mrz && !options.qr) return undefined;
  try {
    if (options.mrz) return bacKeyFromMrz(parseCccdMrz(options.mrz.split(/\\n|\n|,/)).mrz);
    if (options.qr) return bacKeyFromQr(parseQr(options.qr));
  } catch (error) {
    if (error instanceof CccdError) throw new InvalidArgumentError(error.message);
    throw error;
  }
  throw new InvalidArgumentError('give --can, --mrz or --qr');
}

/** PACE-CAN when --can is given (the MRZ/QR key then only for chips without PACE), else the MRZ key. */
function accessFrom(options: CardReadOptions): CardAccess {
  const key = bacKeyFrom(options);
  if (options.can) {
    if (!/^\d{6}$/.test(options.can)) throw new InvalidArgumentError('--can takes six digits');
    return { kind: 'can', can: options.can, ...(key ? { bacKey: key } : {}) };
  }
  return { kind: 'bac', key: key! };
}

const mask = (text: string | undefined, show: boolean) =>
  text === undefined
    ? '-'
    : show
      ? text
      : /^\d{9,12}$/.test(text)
        ? maskIdNumber(text)
        : `*** (${text.length} chars)`;

function print(result: CardReadResult, showPii: boolean): void {
  const out: string[] = [];
  if (result.com) out.push(`EF.COM: data groups ${result.com.dataGroups.map((n) => `DG${n}`).join(' ')}`);
  for (const [dg, bytes] of result.dataGroups) out.push(`DG${dg}: ${bytes.length} bytes`);
  out.push(
    `MRZ: ${showPii ? result.mrz.lines.join(' / ') : `document ${mask(result.mrz.documentNumber, false)}, ${result.mrz.format}`}`,
  );
  if (result.face)
    out.push(
      `face: ${result.face.format} ${result.face.width}x${result.face.height}, ${result.face.image.length} bytes`,
    );
  if (result.dg13) {
    for (const [field, value] of Object.entries(result.dg13)) {
      const text = Array.isArray(value)
        ? value.map((v) => mask(v, showPii)).join(', ')
        : mask(value, showPii);
      out.push(`DG13 ${field}: ${text}`);
    }
  }
  out.push(`access: ${result.accessProtocol.toUpperCase()}`);
  out.push(`passive authentication: ${result.passive.passed ? 'PASSED' : 'FAILED'}`);
  for (const check of result.passive.checks)
    out.push(
      `  ${check.passed ? 'ok  ' : 'FAIL'} ${check.check}${check.dataGroup ? ` DG${check.dataGroup}` : ''}${check.detail ? ` — ${check.detail}` : ''}`,
    );
  out.push(
    `chip authentication: ${result.chip.status.toUpperCase()}${result.chip.detail ? ` — ${result.chip.detail}` : ''}`,
  );
  out.push(
    `active authentication: ${result.active.status.toUpperCase()}${result.active.detail ? ` — ${result.active.detail}` : ''}`,
  );
  out.push(
    `chip authentic (PA and a bound CA or AA): ${result.authenticity.authentic ? 'YES' : `NO — ${result.authenticity.reasons.join('; ')}`}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

async function pcscTransport(
  readerName: string | undefined,
  timeoutMs: number,
): Promise<{ transport: CardTransport; stop: () => void }> {
  const pcsc = new PcscCardReader();
  const inserted = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no card in ${readerName ?? 'any reader'} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    pcsc.on('card-inserted', (name) => {
      if (readerName && name !== readerName) return;
      clearTimeout(timer);
      resolve(name);
    });
  });
  pcsc.on('error', (error) => process.stderr.write(`card reader: ${error.message}\n`));
  await pcsc.start();
  const name = await inserted;
  return { transport: await pcsc.connect(name), stop: () => pcsc.stop() };
}

/** `kiosk card read`: reads a card (PC/SC or an emulated one) and prints its data and verdicts. */
export function registerCardCommands(program: Command): void {
  const card = program.command('card').description('read and verify a CCCD chip (ICAO 9303)');
  card
    .command('read')
    .description('read EF.COM, DG1, DG2, DG13, DG15, EF.SOD; passive and active authentication')
    .option('--mrz <lines>', 'the card MRZ, 3 lines separated by "\\n" or ","')
    .option('--qr <payload>', 'the front QR payload (BAC key derived from it alone)')
    .option('--can <digits>', 'PACE card access number (CCCD: the last six digits of the ID number)')
    .option('--require-pace', 'refuse chips without PACE (a failed PACE never falls back to BAC anyway)')
    .option('--reader <name>', 'PC/SC reader name (default: the first reader that gets a card)')
    .option('--emulate', 'read an emulated chip of a fabricated citizen, signed by a throw-away test PKI')
    .option('--trust <pem>', 'CSCA certificates (PEM bundle) to trust; required unless --emulate')
    .option('--show-pii', 'print names, numbers and the MRZ in full (masked by default)')
    .option('--timeout <ms>', 'how long to wait for a card', (v) => Number(v), 30_000)
    .addHelpText(
      'after',
      `\nExamples:\n  $ kiosk card read --emulate --qr '001195012345|012345678|Trần Thị Mai|15031995|Nữ|Hà Nội|10072021'\n  $ kiosk card read --mrz 'IDVNM1950123452001195012345<<3,9503157F3503155VNM<<<<<<<<<<<0,TRAN<<THI<MAI<<<<<<<<<<<<<<<<<' --trust /etc/cccd-kiosk/csca.pem`,
    )
    .action(async (options: CardReadOptions) => {
      const access = accessFrom(options);
      let transport: CardTransport;
      let stop = () => {};
      let trustPem: string;
      if (options.emulate) {
        const emulated = (await loadDemo()).emulatedCard();
        transport = emulated.chip;
        trustPem = options.trust ? readFileSync(options.trust, 'utf8') : emulated.trustListPem;
      } else {
        if (!options.trust) throw new InvalidArgumentError('--trust <pem> is required to verify a real card');
        trustPem = readFileSync(options.trust, 'utf8');
        ({ transport, stop } = await pcscTransport(options.reader, options.timeout));
      }
      try {
        const result = await readCard(transport, {
          access,
          accessPolicy: options.requirePace ? 'require-pace' : 'prefer-pace',
          trustAnchors: parseTrustList(trustPem),
        });
        print(result, options.showPii === true);
        // 2: the card was read but is not proven genuine (or is a clone)
        if (!result.authenticity.authentic) process.exitCode = 2;
      } catch (error) {
        // A refused step (wrong MRZ, bad MAC, malformed file) is reported by its class and step, no PII.
        if (!(error instanceof CardError)) throw error;
        process.stderr.write(`card read failed: ${error.name}: ${error.message}\n`);
        process.exitCode = 1;
      } finally {
        await transport.close();
        stop();
      }
    });
  card
    .command('trust')
    .description('show the trust list: CSCAs, imported master lists and CRLs (as pushed and verified)')
    .requiredOption('-c, --config <file>', 'configuration file; pushed settings stored by the kiosk apply')
    .addHelpText('after', '\nExample:\n  $ kiosk card trust --config /etc/cccd-kiosk/kiosk.json')
    .action(async (options: { config: string }) => {
      const config = await withPushedSettings(
        await loadConfigFile(options.config),
        createLogger({ level: 'warn', pretty: false }),
      );
      try {
        const { trustList } = loadCardTrust(config);
        const lines = describeTrustList(trustList);
        lines.unshift(`access policy: ${config.card.accessPolicy}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (error) {
        if (!(error instanceof TrustListError)) throw error;
        process.stderr.write(`trust list refused: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
}

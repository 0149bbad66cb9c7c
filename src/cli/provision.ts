/**
 * `kiosk provision`: turns a freshly installed kiosk into a member of the fleet, step by step.
 *
 *  1. TLS key (EC P-256) and a certificate request whose subject is `CN=<kiosk id>` — the identity
 *     the broker takes as the MQTT user name (Mosquitto `use_identity_as_username`).
 *  2. X25519 sealing key at `<dataDir>/identity/sealing.key` (PKCS#8 PEM): registry secrets for
 *     this kiosk are sealed to it (src/store/seal.ts reads the same file).
 *  3. Enrolment over the broker's bootstrap topic with a one-time token: the registry signs the
 *     certificate and records the sealing public key; the answer comes on a reply topic named by
 *     our client id, which the broker lets only us read.
 *  4. Which device answers on which serial port (the `kiosk devices scan` probes).
 *  5. The configuration file, validated by the one schema and written atomically.
 *  6. `kiosk doctor`.
 *
 * Re-running is safe: keys are kept, a certificate that is still good for this key and id skips
 * enrolment (so a used token is not needed again), and the configuration is rewritten whole.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { type Command, InvalidArgumentError, Option } from 'commander';
import mqtt from 'mqtt';
import { type KioskConfig, parseConfig } from '../config/index.js';
import { decodeMessage, type EnrolResponseBody, envelope, InvalidMessage } from '../link/messages.js';
import { topics } from '../link/topics.js';
import { describeKioskIdProblem, kioskIdProblem } from '../registry/kiosk-id.js';

const run = promisify(execFile);
const OPS_KEY = /^[A-Za-z0-9+/]{43}=$/;

export interface ProvisionOptions {
  /** where the configuration file goes; its directory also holds `tls/` */
  configFile: string;
  kioskId: string;
  site?: string;
  /** the broker the runtime will use (mqtts://… in production) */
  brokerUrl: string;
  /** the broker listener for enrolment (default: brokerUrl) */
  bootstrapUrl?: string;
  /** CA that signed the broker's server certificate (default: system trust, then the enrolled CA) */
  brokerCa?: string;
  protocolVersion: 4 | 5;
  /** one-time enrolment token; not needed when the kiosk already holds a good certificate */
  token?: string;
  dataDir: string;
  /** base64 raw 32-byte Ed25519 public keys of operations */
  opsKeys: string[];
  /** the registry's pinned keys: Ed25519 (signs manifests, statuses), X25519 (HPKE sealing), base64 */
  registryKeys?: { signing: string; sealing: string };
  /** the scanner only speaks when it scans, so no probe finds it: its port is given */
  scannerPath?: string;
  /** identify only these ports (default: every serial port the system lists) */
  ports?: string[];
  enrolTimeoutMs?: number;
}

export type StepResult = { ok: true; detail: string } | { ok: false; detail: string };

/** One finished step, as printed: `✓ TLS key — kept /etc/cccd-kiosk/tls/kiosk.key`. */
export interface ProvisionStep {
  step: string;
  ok: boolean;
  detail: string;
}

/** The registry said no; `reason` is one of ENROL_REFUSALS. */
export class EnrolmentRefused extends Error {
  override readonly name = 'EnrolmentRefused';
  constructor(
    readonly reason: string,
    detail: string | undefined,
  ) {
    super(`${reason}${detail ? `: ${detail}` : ''}`);
  }
}

/** No answer from the registry on the bootstrap topic in time. */
export class EnrolmentTimeout extends Error {
  override readonly name = 'EnrolmentTimeout';
}

/** A step failed; the steps before it stand and a re-run continues from them. */
export class ProvisionFailed extends Error {
  override readonly name = 'ProvisionFailed';
}

/**
 * Writes a file so that a crash leaves either the old or the new content: temp file, fsync, rename.
 * Run as root (`sudo kiosk provision`), the file takes the owner and group of `ownerLike`, so the
 * service user reads what root wrote (install.sh makes /etc/cccd-kiosk root:cccd-kiosk 0750 and
 * /var/lib/cccd-kiosk cccd-kiosk-owned).
 */
export async function writeFileAtomic(
  file: string,
  content: string,
  mode = 0o644,
  ownerLike?: string,
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'w', mode);
  try {
    if (ownerLike && process.getuid?.() === 0) {
      const owner = await stat(ownerLike);
      await handle.chown(owner.uid, owner.gid);
      await chown(dirname(file), owner.uid, owner.gid);
    }
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const directory = await open(dirname(file), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** Paths of the kiosk's identity files. */
export function identityPaths(configFile: string, dataDir: string) {
  const tlsDir = join(dirname(resolve(configFile)), 'tls');
  return {
    tlsKey: join(tlsDir, 'kiosk.key'),
    csr: join(tlsDir, 'kiosk.csr'),
    certificate: join(tlsDir, 'kiosk.pem'),
    ca: join(tlsDir, 'ca.pem'),
    sealingKey: join(resolve(dataDir), 'identity', 'sealing.key'),
  };
}

async function ensureTlsKey(file: string, ownerLike: string): Promise<string> {
  if (existsSync(file)) {
    createPrivateKey(await readFile(file)); // unreadable key → the step fails, nothing overwritten
    return `kept ${file}`;
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFileAtomic(
    file,
    privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    0o640,
    ownerLike,
  );
  return `created ${file} (EC P-256)`;
}

/** The X25519 sealing key pair (PKCS#8 PEM); returns the raw public key in base64. */
export async function ensureSealingKey(
  file: string,
  ownerLike?: string,
): Promise<{ publicKey: string; created: boolean }> {
  let created = false;
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('x25519');
    await writeFileAtomic(
      file,
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      0o600,
      ownerLike,
    );
    created = true;
  }
  const jwk = createPrivateKey(await readFile(file)).export({ format: 'jwk' });
  if (jwk.crv !== 'X25519' || !jwk.x) throw new Error(`${file} is not an X25519 private key`);
  return { publicKey: Buffer.from(jwk.x, 'base64url').toString('base64'), created };
}

/** A certificate we already hold that is good: our key, our id, not expiring, from the CA we hold. */
async function usableCertificate(
  paths: ReturnType<typeof identityPaths>,
  kioskId: string,
): Promise<X509Certificate | undefined> {
  if (!existsSync(paths.certificate) || !existsSync(paths.ca)) return undefined;
  try {
    const certificate = new X509Certificate(await readFile(paths.certificate));
    const ca = new X509Certificate(await readFile(paths.ca));
    const key = createPrivateKey(await readFile(paths.tlsKey));
    const validTo = new Date(certificate.validTo).getTime();
    const good =
      certificate.subject === `CN=${kioskId}` &&
      certificate.checkPrivateKey(key) &&
      certificate.verify(ca.publicKey) &&
      validTo > Date.now() + 7 * 24 * 3600 * 1000;
    return good ? certificate : undefined;
  } catch {
    return undefined;
  }
}

const isTlsUrl = (url: string) => /^(mqtts|ssl|wss):/.test(url);

/** Asks the registry for our certificate on the bootstrap topic and waits for its answer. */
export async function enrol(options: {
  url: string;
  protocolVersion: 4 | 5;
  ca?: Buffer;
  kioskId: string;
  token: string;
  csr: string;
  sealingPublicKey: string;
  timeoutMs: number;
}): Promise<Extract<EnrolResponseBody, { status: 'ok' }>> {
  // The reply topic carries our client id: the bootstrap ACL (`pattern read …/reply/%c`) lets
  // only this connection read it.
  const clientId = `enrol-${randomBytes(8).toString('hex')}`;
  const replyTo = topics.bootstrapReply(clientId);
  const correlationId = randomUUID();
  const client = mqtt.connect(options.url, {
    clientId,
    protocolVersion: options.protocolVersion,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
    ...(options.ca ? { ca: options.ca } : {}),
    rejectUnauthorized: true,
  });
  try {
    const answer = new Promise<EnrolResponseBody>((resolveAnswer, reject) => {
      client.once('error', reject);
      client.on('message', (topic, payload) => {
        if (topic !== replyTo) return;
        try {
          const message = decodeMessage(payload, 'enrol.response');
          if (message.correlationId === correlationId) resolveAnswer(message.body);
        } catch (error) {
          if (error instanceof InvalidMessage)
            reject(new Error(`invalid answer from the registry: ${error.reason}`));
          else reject(error as Error);
        }
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new EnrolmentTimeout(`no answer from the registry within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    });
    try {
      const exchange = (async () => {
        await new Promise<void>((resolveConnect, reject) => {
          client.once('connect', () => resolveConnect());
          client.once('error', reject);
        });
        const granted = await client.subscribeAsync(replyTo, { qos: 1 });
        if (granted.some((grant) => grant.qos > 2))
          throw new Error(`the broker refused the reply topic ${replyTo}`);
        const request = envelope(
          'enrol.request',
          options.kioskId,
          {
            kioskId: options.kioskId,
            token: options.token,
            csr: options.csr,
            sealingPublicKey: options.sealingPublicKey,
          },
          { correlationId, replyTo },
        );
        await client.publishAsync(topics.bootstrapEnrol(), JSON.stringify(request), { qos: 1 });
        return answer;
      })();
      const body = await Promise.race([exchange, timeout]);
      if (body.status === 'refused') throw new EnrolmentRefused(body.reason, body.detail);
      return body;
    } finally {
      clearTimeout(timer);
    }
  } finally {
    client.end(true);
  }
}

const DEVICE_BAUD = { fingerprint: 57600, dispenser: 57600, printer: 9600 } as const;

/** What the technician is told for each refusal: what happened and what to do. */
function enrolmentAdvice(error: EnrolmentRefused): string {
  switch (error.reason) {
    case 'token-used':
      return 'this enrolment token has already been used (tokens work once); ask operations for a new token';
    case 'token-unknown':
      return 'the registry does not know this enrolment token; check it was typed correctly';
    case 'token-other-kiosk':
      return 'this enrolment token was issued for another kiosk id; check --kiosk-id or ask operations';
    case 're-enrolment-required':
      return 'this kiosk id is already enrolled; replacing its certificate and keys needs a re-enrolment token from operations (kiosk-ops enrol token <id> --re-enrol)';
    case 'kiosk-id-refused':
      return `the registry refused this kiosk id${error.message.includes(': ') ? ` (${error.message.slice(error.message.indexOf(': ') + 2)})` : ''}`;
    default:
      return error.message;
  }
}

/** Runs every step, reporting each as it finishes. Resolves with the written configuration. */
export async function provisionKiosk(
  options: ProvisionOptions,
  report: (step: ProvisionStep) => void,
): Promise<KioskConfig> {
  const step = async (name: string, work: () => Promise<string>): Promise<void> => {
    let detail: string;
    try {
      detail = await work();
    } catch (error) {
      const message = error instanceof EnrolmentRefused ? enrolmentAdvice(error) : (error as Error).message;
      report({ step: name, ok: false, detail: message });
      throw new ProvisionFailed(`${name}: ${message}`, { cause: error });
    }
    report({ step: name, ok: true, detail });
  };
  const idProblem = kioskIdProblem(options.kioskId);
  if (idProblem) throw new InvalidArgumentError(`kiosk id: ${describeKioskIdProblem(idProblem)}`);
  for (const key of options.opsKeys)
    if (!OPS_KEY.test(key) || Buffer.from(key, 'base64').length !== 32)
      throw new InvalidArgumentError(`--ops-key ${key}: expected a base64 raw 32-byte Ed25519 public key`);
  const paths = identityPaths(options.configFile, options.dataDir);

  const configDir = dirname(resolve(options.configFile));
  await mkdir(resolve(options.dataDir), { recursive: true });
  await step('TLS key', () => ensureTlsKey(paths.tlsKey, configDir));
  await step('certificate request', async () => {
    await run('openssl', [
      'req',
      '-new',
      '-key',
      paths.tlsKey,
      '-subj',
      `/CN=${options.kioskId}`,
      '-out',
      paths.csr,
    ]);
    return `${paths.csr} (CN=${options.kioskId})`;
  });
  let sealingPublicKey = '';
  await step('sealing key', async () => {
    const sealing = await ensureSealingKey(paths.sealingKey, resolve(options.dataDir));
    sealingPublicKey = sealing.publicKey;
    return `${sealing.created ? 'created' : 'kept'} ${paths.sealingKey} (X25519)`;
  });
  await step('enrolment', async () => {
    const held = await usableCertificate(paths, options.kioskId);
    if (held) return `already enrolled: certificate for CN=${options.kioskId} valid until ${held.validTo}`;
    if (!options.token)
      throw new Error('an enrolment token is needed (--token): this kiosk has no certificate yet');
    const bootstrapUrl = options.bootstrapUrl ?? options.brokerUrl;
    const answer = await enrol({
      url: bootstrapUrl,
      protocolVersion: options.protocolVersion,
      ...(options.brokerCa ? { ca: await readFile(options.brokerCa) } : {}),
      kioskId: options.kioskId,
      token: options.token,
      csr: await readFile(paths.csr, 'utf8'),
      sealingPublicKey,
      timeoutMs: options.enrolTimeoutMs ?? 15_000,
    });
    const certificate = new X509Certificate(answer.certificate);
    if (!certificate.checkPrivateKey(createPrivateKey(await readFile(paths.tlsKey))))
      throw new Error('the registry returned a certificate for another key');
    if (!certificate.verify(new X509Certificate(answer.ca).publicKey))
      throw new Error('the returned certificate is not signed by the returned CA');
    await writeFileAtomic(paths.ca, answer.ca, 0o644, configDir);
    await writeFileAtomic(paths.certificate, answer.certificate, 0o644, configDir);
    return `certificate for CN=${options.kioskId} from ${bootstrapUrl}, valid until ${certificate.validTo}`;
  });

  const found: Partial<Record<'fingerprint' | 'dispenser' | 'printer', string>> = {};
  await step('devices', async () => {
    const { identifyDevice, listSerialPorts } = await import('../../devices/index.js');
    const candidates = options.ports ?? (await listSerialPorts()).ports.map((port) => port.path);
    for (const path of candidates) {
      if (path === options.scannerPath) continue;
      const kind = await identifyDevice(path);
      if (kind && !found[kind]) found[kind] = path;
    }
    const lines = Object.entries(found).map(([kind, path]) => `${kind} on ${path}`);
    if (options.scannerPath) lines.push(`scanner on ${options.scannerPath} (given)`);
    const missing = (['fingerprint', 'printer', 'dispenser'] as const).filter((kind) => !found[kind]);
    if (missing.length > 0) lines.push(`not found: ${missing.join(', ')}`);
    return `${lines.join('; ')} (${candidates.length} port${candidates.length === 1 ? '' : 's'} tried)`;
  });

  let config: KioskConfig | undefined;
  await step('configuration', async () => {
    let previous: Record<string, unknown> = {};
    if (existsSync(options.configFile)) {
      try {
        previous = JSON.parse(await readFile(options.configFile, 'utf8')) as Record<string, unknown>;
      } catch {
        previous = {}; // an unreadable previous file is replaced whole
      }
    }
    const devices: Record<string, unknown> = {
      ...(typeof previous.devices === 'object' && previous.devices !== null ? previous.devices : {}),
    };
    for (const [kind, path] of Object.entries(found))
      devices[kind] = { path, baudRate: DEVICE_BAUD[kind as keyof typeof DEVICE_BAUD] };
    if (options.scannerPath) devices.scanner = { path: options.scannerPath, baudRate: 9600 };
    const previousFleet =
      typeof previous.fleet === 'object' && previous.fleet !== null ? (previous.fleet as object) : {};
    const next: Record<string, unknown> = {
      ...previous,
      kiosk: { id: options.kioskId, ...(options.site ? { site: options.site } : {}) },
      mqtt: {
        ...(typeof previous.mqtt === 'object' && previous.mqtt !== null ? previous.mqtt : {}),
        url: options.brokerUrl,
        protocolVersion: options.protocolVersion,
        // a plaintext broker (the demo's embedded one) takes no TLS options; the files stay ready
        ...(isTlsUrl(options.brokerUrl)
          ? { tls: { ca: options.brokerCa ?? paths.ca, cert: paths.certificate, key: paths.tlsKey } }
          : {}),
      },
      dataDir: resolve(options.dataDir),
      devices,
      ...(options.opsKeys.length > 0 || options.registryKeys
        ? {
            fleet: {
              ...previousFleet,
              ...(options.opsKeys.length > 0 ? { opsPublicKeys: options.opsKeys } : {}),
              ...(options.registryKeys
                ? {
                    registrySigningKey: options.registryKeys.signing,
                    registrySealingKey: options.registryKeys.sealing,
                  }
                : {}),
            },
          }
        : {}),
    };
    if (!isTlsUrl(options.brokerUrl)) delete (next.mqtt as Record<string, unknown>).tls;
    config = parseConfig(next, options.configFile);
    await writeFileAtomic(options.configFile, `${JSON.stringify(next, null, 2)}\n`, 0o640, configDir);
    return `${options.configFile}${options.opsKeys.length === 0 ? ' (no operations keys: pushed config and commands will be refused)' : ''}`;
  });
  if (!config) throw new ProvisionFailed('configuration: not written');
  const written = config;

  await step('doctor', async () => {
    const { runDoctor } = await import('./doctor.js');
    const lines: string[] = [];
    const code = await runDoctor(written, { json: false, write: (line) => lines.push(line) });
    const summary = lines.join('').trim().split('\n').at(-1) ?? '';
    if (code !== 0)
      throw new Error(
        `${summary}\n${lines
          .map((line) => `    ${line}`)
          .join('')
          .trimEnd()}`,
      );
    return summary;
  });
  return written;
}

// ---- the command -------------------------------------------------------------------------------

interface ProvisionFlags {
  config: string;
  kioskId?: string;
  site?: string;
  broker?: string;
  bootstrap?: string;
  brokerCa?: string;
  mqttVersion: string;
  token?: string;
  dataDir: string;
  opsKey: string[];
  registrySigningKey?: string;
  registrySealingKey?: string;
  scanner?: string;
  /** `--ports` alone: probe no port */
  ports?: string[] | true;
  nonInteractive?: boolean;
}

async function askMissing(flags: ProvisionFlags): Promise<ProvisionFlags> {
  // defaults for the prompts from an earlier run; an unreadable file just gives none
  let previous: Partial<{ kiosk: { id?: string; site?: string }; mqtt: { url?: string } }> = {};
  try {
    previous = JSON.parse(await readFile(flags.config, 'utf8')) as typeof previous;
  } catch {
    previous = {};
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  // Answers are read as a stream of lines, so piped answers (a script, a test) are not lost
  // between questions; at the end of input every remaining question takes its default.
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (question: string, fallback?: string): Promise<string | undefined> => {
    process.stdout.write(`${question}${fallback ? ` [${fallback}]` : ''}: `);
    const next = await lines.next();
    const answer = next.done ? '' : String(next.value).trim();
    if (next.done || !process.stdin.isTTY) process.stdout.write('\n');
    return answer || fallback;
  };
  try {
    const filled = { ...flags };
    filled.kioskId ??= await ask('kiosk id (e.g. hn-0001)', previous.kiosk?.id);
    filled.site ??= await ask('site (where the kiosk stands)', previous.kiosk?.site);
    filled.broker ??= await ask('broker URL', previous.mqtt?.url ?? 'mqtts://mqtt.registry.example:8883');
    filled.bootstrap ??= await ask(
      'enrolment (bootstrap) broker URL',
      filled.broker?.replace(/:8883\b/, ':8884'),
    );
    filled.token ??= await ask('one-time enrolment token (empty if already enrolled)');
    filled.scanner ??= await ask('QR scanner port (empty if none)', '/dev/kiosk-scanner');
    if (filled.opsKey.length === 0) {
      const keys = await ask('operations public keys (base64, comma-separated)');
      filled.opsKey = keys ? keys.split(',').map((key) => key.trim()) : [];
    }
    return filled;
  } finally {
    rl.close();
  }
}

export function registerProvisionCommand(program: Command): void {
  program
    .command('provision')
    .description(
      'make this kiosk a member of the fleet: keys, enrolment with a one-time token, devices, config, doctor',
    )
    .option('-c, --config <file>', 'configuration file to write', '/etc/cccd-kiosk/kiosk.json')
    .option('--kiosk-id <id>', 'kiosk id, e.g. hn-0001 (names its topics and its certificate)')
    .option('--site <text>', 'where the kiosk stands, for operators')
    .option('--broker <url>', 'broker URL the runtime uses, e.g. mqtts://mqtt.registry.example:8883')
    .option('--bootstrap <url>', 'broker URL for enrolment (default: --broker)')
    .option('--broker-ca <file>', "CA of the broker's server certificate (default: the CA enrolment returns)")
    .addOption(new Option('--mqtt-version <n>', 'MQTT 3.1.1 (4) or 5').choices(['4', '5']).default('5'))
    .option('--token <token>', 'one-time enrolment token from operations')
    .option('--data-dir <dir>', 'data directory of the runtime', '/var/lib/cccd-kiosk')
    .option(
      '--ops-key <base64>',
      'operations Ed25519 public key (raw 32 bytes, base64); repeat for several',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--registry-signing-key <base64>', "the registry's Ed25519 public key (raw 32 bytes, base64)")
    .option('--registry-sealing-key <base64>', "the registry's X25519 public key (raw 32 bytes, base64)")
    .option('--scanner <path>', 'QR scanner port (a scanner only speaks when it scans: it cannot be probed)')
    .option('--ports [path...]', 'identify only these serial ports; alone: none (default: every port found)')
    .option('--non-interactive', 'never prompt: take everything from flags')
    .addHelpText(
      'after',
      `
Examples:
  $ sudo kiosk provision                      asks for what it needs
  $ kiosk provision --non-interactive --config /etc/cccd-kiosk/kiosk.json --kiosk-id hn-0001 \\
      --broker mqtts://mqtt.registry.example:8883 --bootstrap mqtts://mqtt.registry.example:8884 \\
      --token enrol-… --ops-key <base64> --scanner /dev/kiosk-scanner
Re-running is safe: keys are kept and a kiosk that holds a good certificate needs no new token.`,
    )
    .action(async (given: ProvisionFlags) => {
      const flags = given.nonInteractive ? given : await askMissing(given);
      if (!flags.kioskId || !flags.broker)
        throw new InvalidArgumentError('--kiosk-id and --broker are required with --non-interactive');
      const write = (line: string) => process.stdout.write(line);
      try {
        await provisionKiosk(
          {
            configFile: flags.config,
            kioskId: flags.kioskId,
            ...(flags.site ? { site: flags.site } : {}),
            brokerUrl: flags.broker,
            ...(flags.bootstrap ? { bootstrapUrl: flags.bootstrap } : {}),
            ...(flags.brokerCa ? { brokerCa: flags.brokerCa } : {}),
            protocolVersion: flags.mqttVersion === '4' ? 4 : 5,
            ...(flags.token ? { token: flags.token } : {}),
            dataDir: flags.dataDir,
            opsKeys: flags.opsKey,
            ...(flags.registrySigningKey && flags.registrySealingKey
              ? { registryKeys: { signing: flags.registrySigningKey, sealing: flags.registrySealingKey } }
              : {}),
            ...(flags.scanner ? { scannerPath: flags.scanner } : {}),
            ...(flags.ports ? { ports: flags.ports === true ? [] : flags.ports } : {}),
          },
          (done) => write(`${done.ok ? '✓' : '✗'} ${done.step.padEnd(20)} ${done.detail}\n`),
        );
        write(`kiosk ${flags.kioskId} provisioned; start it with: kiosk start --config ${flags.config}\n`);
      } catch (error) {
        if (!(error instanceof ProvisionFailed)) throw error;
        write('provisioning stopped; fix the step marked ✗ and run it again (done steps are kept)\n');
        process.exitCode = 1;
      }
    });
}

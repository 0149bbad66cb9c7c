/**
 * `npm run bench:update` (issue 14, item 6):
 *
 * - service downtime during switch: a service run from <root>/current (as systemd runs the kiosk)
 *   is stopped with SIGTERM, `current` is switched to the staged release, and the service is
 *   started from the new link; downtime is from SIGTERM to the new release's first answer. The
 *   baseline is a plain restart of the same release, measured in the same run. The service is a
 *   minimal Node HTTP app inside each bundle: the kiosk runtime's own start-up (devices, store,
 *   link) comes on top and is not part of this figure.
 * - bytes downloaded / bundle size: everything the link from the HTTPS repository carried (TLS,
 *   headers and metadata included)
 *   for one update whose bundle download the link drops once midway, over the bundle size.
 * - capped download rate: the bundle fetched by the production downloader (download.ts) with
 *   `update.maxBytesPerSecond` set, body bytes over the time from the request to the last byte on
 *   disk; the baseline is the same download uncapped, in the same run, so the link is shown to be
 *   faster than the cap (the cap, not the link, sets the rate).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packBundle, sha256File } from '../../src/update/bundle.js';
import { downloadResumable } from '../../src/update/download.js';
import { sourceBaseUrl, type UpdateSource } from '../../src/update/transport.js';
import { UpdateRefused } from '../../src/update/errors.js';
import { currentLink, markReleaseGood, switchRelease } from '../../src/update/releases.js';
import { stageUpdate } from '../../src/update/updater.js';
import {
  HOST_ABI,
  HOST_TARGET,
  hostAt,
  makeKeys,
  makeKioskRoot,
  makeOpsPki,
  makeRepository,
  publish,
  serveRepository,
  tempDir,
} from '../../test/integration/update/fixtures.js';

const SERVICE = `
const http = require('node:http');
const version = require('./package.json').version;
const server = http.createServer((req, res) => res.end(version));
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

async function serviceBundle(work: string, version: string, padBytes: number): Promise<string> {
  const stage = join(work, `stage-${version}`);
  await mkdir(join(stage, 'app'), { recursive: true });
  await writeFile(join(stage, 'app', 'package.json'), JSON.stringify({ name: 'cccd-kiosk', version }));
  await writeFile(join(stage, 'app', 'service.cjs'), SERVICE);
  if (padBytes > 0) await writeFile(join(stage, 'app', 'assets.bin'), randomBytes(padBytes));
  const file = join(work, `cccd-kiosk-${version}.tar.gz`);
  await packBundle(
    stage,
    { version, target: HOST_TARGET, nodeAbi: HOST_ABI, minConfigSchema: 1, natives: {} },
    file,
  );
  return file;
}

const askVersion = (port: number): Promise<string | undefined> =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 200 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });

async function untilServes(port: number, version: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while ((await askVersion(port)) !== version) {
    if (performance.now() > deadline) throw new Error(`the service never answered ${version}`);
    await sleep(5);
  }
}

interface RunningService {
  child: ChildProcess;
  port: number;
}

/** Starts the service through the link, as ExecStart=/usr/bin/node /opt/cccd-kiosk/current/app/... does. */
async function startService(root: string): Promise<RunningService> {
  const child = spawn(process.execPath, [join(currentLink(root), 'app', 'service.cjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, port: Number(line.toString().trim()) };
}

async function stop({ child }: RunningService): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface FlakyLink {
  url: string;
  /** Bytes carried from the repository to the kiosk. */
  carried(): number;
  /** The next connection that carries more than this many bytes is cut there (once). */
  cutOnceAfter(bytes: number): void;
  close(): Promise<void>;
}

/**
 * The network between kiosk and repository: a TCP relay that counts what it carries to the kiosk
 * and can drop a connection midway (FIN after exactly N bytes, as a link that goes away). Counting
 * here, not at the server, counts what crossed the link rather than what sat in socket buffers.
 */
async function flakyLink(targetPort: number): Promise<FlakyLink> {
  let carried = 0;
  let cutAt: number | undefined;
  const relay = createServer((kiosk: Socket) => {
    const upstream = connect(targetPort, '127.0.0.1');
    let forwarded = 0;
    kiosk.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (cutAt !== undefined && forwarded + chunk.length > cutAt) {
        const last = chunk.subarray(0, cutAt - forwarded);
        cutAt = undefined;
        carried += last.length;
        kiosk.end(last);
        upstream.destroy();
        return;
      }
      forwarded += chunk.length;
      carried += chunk.length;
      if (!kiosk.write(chunk)) {
        upstream.pause();
        kiosk.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => kiosk.end());
    upstream.on('error', () => kiosk.destroy());
    kiosk.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(relay.address() as AddressInfo).port}/`,
    carried: () => carried,
    cutOnceAfter: (bytes) => (cutAt = bytes),
    close: () => new Promise<void>((resolve) => relay.close(() => resolve())),
  };
}

/** Bytes a second of one download of `url` into a fresh part file, capped at `cap` (0: none). */
async function downloadRate(
  work: string,
  source: UpdateSource,
  url: string,
  length: number,
  cap: number,
): Promise<number> {
  const partFile = join(work, `rate-${cap}-${Math.random().toString(16).slice(2)}.part`);
  const began = performance.now();
  const { received } = await downloadResumable({ url, source, partFile, length, maxBytesPerSecond: cap });
  const seconds = (performance.now() - began) / 1000;
  await rm(partFile, { force: true });
  if (received !== length) throw new Error(`rate download got ${received} of ${length} bytes`);
  return received / seconds;
}

/** The capped rate against the uncapped baseline, on the bundle as the repository serves it. */
async function capFigures(work: string, source: UpdateSource, bundleFile: string, bundlePath: string) {
  const cap = 1024 * 1024;
  const length = (await stat(bundleFile)).size;
  const sha256 = await sha256File(bundleFile);
  // consistent snapshots: targets are stored as <dir>/<sha256>.<name> (as updater.ts asks for them)
  const url = `${sourceBaseUrl(source)}targets/${dirname(bundlePath)}/${sha256}.${basename(bundlePath)}`;
  const baseline = await downloadRate(work, source, url, length, 0);
  const capped = await downloadRate(work, source, url, length, cap);
  return { cap, length, baseline, capped };
}

async function main(): Promise<void> {
  const work = tempDir('bench');
  const pki = makeOpsPki(work);
  const repo = join(work, 'repo');
  const keys = makeKeys();
  await makeRepository(repo, keys);
  const bundleSize = 4 * 1024 * 1024;
  const v1 = await serviceBundle(work, '0.1.1', bundleSize);
  const v2 = await serviceBundle(work, '0.1.2', bundleSize);
  const label = (version: string, file: string) => ({
    file,
    path: `releases/${version}/cccd-kiosk-${version}-${HOST_TARGET}-abi${HOST_ABI}.tar.gz`,
    version,
    target: HOST_TARGET,
    nodeAbi: HOST_ABI,
  });
  await publish(repo, keys, [label('0.1.1', v1)]);
  const server = await serveRepository({ dir: repo, cert: pki.serverCert, key: pki.serverKey });
  const source = { kind: 'https' as const, baseUrl: server.url, ca: pki.caCert };
  const root = join(work, 'kiosk');
  await makeKioskRoot(root, repo);
  const host = hostAt;

  // install 0.1.1 and run it
  await stageUpdate({ root, source, host: host('0.1.0') });
  await switchRelease(root, '0.1.1');
  await markReleaseGood(root);
  let service = await startService(root);
  await untilServes(service.port, '0.1.1');

  // publish 0.1.2 and download it over a link that drops once, halfway through the bundle
  await publish(repo, keys, [label('0.1.2', v2)]);
  const link = await flakyLink(Number(new URL(server.url).port));
  const viaLink = { ...source, baseUrl: link.url };
  link.cutOnceAfter(bundleSize / 2);
  const cap = 8 * 1024 * 1024;
  const first = await stageUpdate({
    root,
    source: viaLink,
    host: host('0.1.1'),
    maxBytesPerSecond: cap,
  }).catch((error: unknown) => error);
  if (first instanceof UpdateRefused) throw first;
  const staged = await stageUpdate({ root, source: viaLink, host: host('0.1.1'), maxBytesPerSecond: cap });
  const ratio = link.carried() / staged.bundleLength;
  await link.close();

  // baseline: restart of the running release
  let began = performance.now();
  await stop(service);
  service = await startService(root);
  await untilServes(service.port, '0.1.1');
  const restartMs = performance.now() - began;

  // the switch: stop, atomic current switch, start the new release
  began = performance.now();
  await stop(service);
  await switchRelease(root, staged.version);
  service = await startService(root);
  await untilServes(service.port, '0.1.2');
  const switchMs = performance.now() - began;
  await stop(service);
  const rates = await capFigures(work, source, v2, label('0.1.2', v2).path);
  await server.close();

  console.log(`figure: service downtime during switch: ${Math.round(switchMs)} ms (target: ≤ 5000 ms)`);
  console.log(
    `figure: service downtime of a plain restart (baseline, same run): ${Math.round(restartMs)} ms`,
  );
  console.log(`figure: bytes downloaded / bundle size: ${ratio.toFixed(3)} (target: ≤ 1.05)`);
  console.log(
    `figure: capped download rate: ${Math.round(rates.capped)} bytes/s (target: ≤ cap ${rates.cap})`,
  );
  console.log(
    `figure: uncapped download rate (baseline, same run): ${Math.round(rates.baseline)} bytes/s (bundle ${rates.length} bytes)`,
  );
  console.log(
    `(bundle ${staged.bundleLength} bytes; first attempt ${first instanceof Error ? 'cut by the link' : 'was not cut'}; TLS handshakes, headers and metadata included)`,
  );
}

await main();

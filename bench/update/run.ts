/**
 * `npm run bench:update` (issue 14, item 6):
 *
 * - service downtime during switch: a service run from <root>/current (as systemd runs the kiosk)
 *   is stopped with SIGTERM, `current` is switched to the staged release, and the service is
 *   started from the new link; downtime is from SIGTERM to the new release's first answer. The
 *   baseline is a plain restart of the same release, measured in the same run. The service is a
 *   minimal Node HTTP app inside each bundle: the kiosk runtime's own start-up (devices, store,
 *   link) comes on top and is measured by bench:session, not here.
 * - bytes downloaded / bundle size: everything the HTTPS repository sent (metadata included)
 *   for one update whose bundle download is cut once midway and resumed, over the bundle's size.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packBundle } from '../../src/update/bundle.js';
import { UpdateRefused } from '../../src/update/errors.js';
import { currentLink, markReleaseGood, switchRelease } from '../../src/update/releases.js';
import { stageUpdate } from '../../src/update/updater.js';
import {
  HOST_ABI,
  HOST_TARGET,
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
server.listen(Number(process.env.PORT), '127.0.0.1');
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

function startService(root: string, port: number): ChildProcess {
  // through the link, as ExecStart=/usr/bin/node /opt/cccd-kiosk/current/app/... does
  return spawn(process.execPath, [join(currentLink(root), 'app', 'service.cjs')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const PORT = 20_000 + Math.floor(Math.random() * 20_000);

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
  const host = (version: string) => ({ target: HOST_TARGET, nodeAbi: HOST_ABI, version, configSchema: 1 });

  // install 0.1.1 and run it
  await stageUpdate({ root, source, host: host('0.1.0') });
  await switchRelease(root, '0.1.1');
  await markReleaseGood(root);
  let service = startService(root, PORT);
  await untilServes(PORT, '0.1.1');

  // publish 0.1.2 and download it with one interruption midway (cap 4 MiB/s, cut after ~0.5 s)
  await publish(repo, keys, [label('0.1.2', v2)]);
  const sentBefore = server.bytesSent();
  const cut = new AbortController();
  const timer = setTimeout(() => cut.abort(), 500);
  const first = await stageUpdate({
    root,
    source,
    host: host('0.1.1'),
    maxBytesPerSecond: 4 * 1024 * 1024,
    signal: cut.signal,
  }).catch((error: unknown) => error);
  clearTimeout(timer);
  if (first instanceof UpdateRefused) throw first;
  const staged = await stageUpdate({ root, source, host: host('0.1.1') });
  const ratio = (server.bytesSent() - sentBefore) / staged.bundleLength;

  // baseline: restart of the running release
  let began = performance.now();
  await stop(service);
  service = startService(root, PORT);
  await untilServes(PORT, '0.1.1');
  const restartMs = performance.now() - began;

  // the switch: stop, atomic current switch, start the new release
  began = performance.now();
  await stop(service);
  await switchRelease(root, staged.version);
  service = startService(root, PORT);
  await untilServes(PORT, '0.1.2');
  const switchMs = performance.now() - began;
  await stop(service);
  await server.close();

  console.log(`figure: service downtime during switch: ${Math.round(switchMs)} ms (target: ≤ 5000 ms)`);
  console.log(
    `figure: service downtime of a plain restart (baseline, same run): ${Math.round(restartMs)} ms`,
  );
  console.log(`figure: bytes downloaded / bundle size: ${ratio.toFixed(3)} (target: ≤ 1.05)`);
  console.log(
    `(bundle ${staged.bundleLength} bytes; first attempt cut after ${first instanceof Error ? 'an abort' : 'completion'}; metadata included)`,
  );
}

await main();

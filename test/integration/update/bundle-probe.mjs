// Runs inside an unpacked release bundle, under the Node a kiosk of the bundle's target runs (the
// host's, or the target root's under qemu-user): the kiosk's store on a real SQLite file, and every
// native module loaded. Prints one JSON line. Plain JavaScript: it runs without tsx.
// Usage: node bundle-probe.mjs APP_DIR STORE_FILE
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [appDir, storeFile] = process.argv.slice(2);
const appModule = (path) => import(pathToFileURL(join(appDir, 'dist', 'src', path)).href);
const { Store } = await appModule('store/index.js');
const { createLogger } = await appModule('util/log.js');

const store = new Store({
  file: storeFile,
  synchronous: 'FULL',
  defaultTopic: 'probe',
  log: createLogger({ level: 'warn', pretty: false }),
});
await store.start();
await store.enqueue({ type: 'probe.written', body: { arch: process.arch } });
const outbox = await store.outboxStats();
await store.stop();

// the device drivers' native modules, each through its package's own loader
const appRequire = createRequire(join(appDir, 'package.json'));
for (const name of ['pcsclite', 'epoll', '@serialport/bindings-cpp']) appRequire(name);
const loadedAddons = Object.keys(appRequire.cache)
  .filter((file) => file.endsWith('.node'))
  .map((file) => file.slice(appDir.length + 1))
  .sort();

console.log(
  JSON.stringify({
    arch: process.arch,
    nodeAbi: process.versions.modules,
    outboxDepth: outbox.depth,
    loadedAddons,
  }),
);

/** Child process of the bench: peak RSS while 100,000 events are queued and then drained. */
import { join } from 'node:path';
import { drain, fill, freshDir, openStore } from './common.js';

const url = process.argv[2] ?? '';
const count = Number(process.argv[3] ?? 100_000);
let peak = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 20);
const store = await openStore(join(freshDir(), 'kiosk.sqlite'));
await fill(store, count);
const queued = store.queueDepth;
const drained = await drain(store, url);
await drained.stop();
await store.stop();
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage.rss());
process.stdout.write(`${JSON.stringify({ peak, queued })}\n`);
process.exit(0);

import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  inspectStoreFile,
  listMovedAside,
  MAX_MOVED_ASIDE,
  recoverStoreFile,
} from '../../../src/store/recovery.js';
import { SqliteDatabase, Store } from '../../../src/store/index.js';
import { quietLogger } from '../../helpers/logs.js';

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const handle = openSync(file, 'r+');
  try {
    writeSync(handle, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(handle);
  }
}

describe('store file recovery (what SQLite itself reports)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recovery-'));
  const sound = join(dir, 'sound.sqlite');
  let root = 0;

  beforeAll(async () => {
    const store = new Store({ file: sound, synchronous: 'FULL', defaultTopic: 't', log: quietLogger() });
    await store.start();
    for (let n = 0; n < 100; n++) await store.enqueue({ type: 'x', body: { n, pad: 'y'.repeat(400) } });
    await store.stop();
    const db = await SqliteDatabase.open(sound);
    root = (await db.get<{ rootpage: number }>("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'"))
      ?.rootpage as number;
    await db.close();
  });

  function damaged(name: string, damage: (file: string) => void): string {
    const file = join(mkdtempSync(join(dir, `${name}-`)), 'kiosk.sqlite');
    copyFileSync(sound, file);
    damage(file);
    return file;
  }

  it('finds nothing wrong with a missing, an empty or a sound file', async () => {
    expect(await inspectStoreFile(join(dir, 'none.sqlite'))).toBeUndefined();
    writeFileSync(join(dir, 'empty.sqlite'), '');
    expect(await inspectStoreFile(join(dir, 'empty.sqlite'))).toBeUndefined();
    expect(await inspectStoreFile(sound)).toBeUndefined();
  });

  it.each([
    [
      'a truncated file',
      'SQLITE_CORRUPT',
      (file: string) => truncateSync(file, statSync(file).size / 2 + 100),
    ],
    ['a garbage header', 'SQLITE_NOTADB', (file: string) => overwrite(file, 0, Buffer.alloc(100, 0xa5))],
    [
      'a corrupted b-tree root page',
      'SQLITE_CORRUPT',
      (file: string) => overwrite(file, (root - 1) * 4096, Buffer.alloc(16, 0xff)),
    ],
    [
      'a corrupted b-tree leaf page',
      'quick_check',
      (file: string) => overwrite(file, 10 * 4096, Buffer.alloc(16, 0xff)),
    ],
  ])('%s is %s, and is moved aside under a name that says so, 0600', async (name, code, damage) => {
    const file = damaged(name.replace(/\W+/g, '-'), damage);
    expect(await inspectStoreFile(file)).toBe(code);
    const moved = await recoverStoreFile(file, quietLogger());
    expect(moved?.corruption).toBe(code);
    expect(readdirSync(join(file, '..'))).toEqual([moved?.name]);
    expect(statSync(join(file, '..', moved?.name ?? '')).mode & 0o777).toBe(0o600);
    expect(listMovedAside(file)).toEqual([moved]);
  });

  it(`keeps the ${MAX_MOVED_ASIDE} newest moved-aside copies`, async () => {
    const file = join(mkdtempSync(join(dir, 'loop-')), 'kiosk.sqlite');
    let clock = Date.parse('2026-01-01T00:00:00Z');
    for (let n = 0; n < MAX_MOVED_ASIDE + 2; n++) {
      writeFileSync(file, Buffer.alloc(8192, 0x5a));
      await recoverStoreFile(file, quietLogger(), () => (clock += 60_000));
    }
    const kept = listMovedAside(file);
    expect(kept).toHaveLength(MAX_MOVED_ASIDE);
    expect(kept.map((copy) => copy.at)).toEqual([
      Date.parse('2026-01-01T00:03:00Z'),
      Date.parse('2026-01-01T00:04:00Z'),
      Date.parse('2026-01-01T00:05:00Z'),
    ]);
  });
});

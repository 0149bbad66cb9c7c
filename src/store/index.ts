import { join } from 'node:path';
export { LATEST_VERSION, type Migration, migrate, migrations, SchemaTooNew } from './migrations.js';
export { inspectStoreFile, listMovedAside, type MovedAside, recoverStoreFile } from './recovery.js';
export { SqliteDatabase, sqliteCode } from './sqlite.js';
export {
  type OutboxEventInput,
  type OutboxRow,
  type OutboxStats,
  Store,
  StoreClosed,
  type StoreEvent,
  StoreFull,
  type StoreOptions,
  type Synchronous,
  type Transaction,
} from './store.js';

/** The kiosk's store file in its data directory. */
export function storeFile(config: { dataDir: string }): string {
  return join(config.dataDir, 'kiosk.sqlite');
}

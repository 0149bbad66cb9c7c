export { LATEST_VERSION, type Migration, migrate, migrations, SchemaTooNew } from './migrations.js';
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

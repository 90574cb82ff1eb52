/** The durable store: what the layers above it may use (docs/architecture.md). */

export { appendFields } from './append.js'
export { DuckDBStore } from './duckdb-store.js'
export type { LineOptions } from './line-sql.js'
export { DEFAULT_QUERY_LIMITS, type QueryLimits } from './query-gate.js'
export { compareKeys, keyOf, type ReadingKey } from './reading-key.js'
export { EXPORT_COLUMNS, parquetCopySql, windowRow } from './reading-sql.js'
export { RETAINED_TABLES, type RetainedTable, type RetentionLog } from './retention-sql.js'
export { type FieldRef, readingsTableSql, sqlString, windowInputTableSql } from './schema.js'
export type {
  DeadLetterLog,
  DeadLetterRow,
  DeviceCatalog,
  DevicePage,
  DeviceRow,
  EventSpan,
  FieldUse,
  ForwardLog,
  HistoryReader,
  IngestLog,
  LineBatch,
  ParquetExport,
  ReadingPage,
  ReadingQuery,
  ReadingRow,
  Store,
  StoredField,
  StoreOptions,
  WindowRow,
} from './store.js'
export { DEFAULT_STORE_MEMORY_MB } from './store.js'
export { type WindowQuery, windowColumns, windowsSql } from './window-sql.js'
export { WorkerStore } from './worker-store.js'

/** The durable store: what the layers above it may use (docs/architecture.md). */

export { DuckDBStore } from './duckdb-store.js'
export type { LineOptions } from './line-sql.js'
export type {
  LineBatch,
  ParquetExport,
  ReadingQuery,
  ReadingRow,
  Store,
  StoredField,
  WindowRow,
} from './store.js'
export { DEFAULT_STORE_MEMORY_MB, fieldColumn, READING_COLUMNS, sqlString } from './store.js'
export { type WindowQuery, windowColumns, windowsSql } from './window-sql.js'
export { WorkerStore } from './worker-store.js'

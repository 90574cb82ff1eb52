export { formatRfc3339Ns, parseRfc3339 } from '../src/core/time.js'
export {
  Bridge,
  type BridgeOptions,
  DEFAULT_BRIDGE_OPTIONS,
  DEVICE_ID_PATTERN,
  type IngestOutcome,
} from './bridge.js'
export { CLOCK_CORRECTIONS, type ClockCorrection, type ClockOptions, DEFAULT_CLOCK_OPTIONS } from './clock.js'
export { decodePayload } from './decode.js'
export { DuckDBStore } from './duckdb-store.js'
export type { DeadLetterRow, ParquetExport, ReadingRow, Store, StoredField, WindowRow } from './store.js'
export { WorkerStore } from './worker-store.js'

/**
 * Retention's deletes (src/jobs/retention.ts): rows older than a horizon,
 * one slice at a time. DuckDB has no `DELETE ... LIMIT`, so a slice is the
 * rowids of at most `limit` old rows. Each slice is its own statement on the
 * write connection, so ingest's commits, queued behind it, go in between
 * slices (duckdb-store.ts serializes writes).
 */

import type { DuckDBConnection } from '@duckdb/node-api'
import type { Catalog } from './catalog.js'
import { refreshFirstTs, saveCatalog } from './catalog-sql.js'
import { READINGS } from './schema.js'

/** The tables retention deletes from, and the time column that ages each row (epoch ns). */
export const RETAINED_TABLES = {
  /** Event time, as corrected by the clock policy: the time the history routes select by. */
  [READINGS]: 'ts',
  /** Receive time: a dead letter may have no usable device time. */
  dead_letters: 'recv_ts',
} as const

export type RetainedTable = keyof typeof RETAINED_TABLES

/** Retention's (src/jobs/retention.ts): old rows deleted a slice at a time. DuckDBStore and WorkerStore implement it. */
export interface RetentionLog {
  /**
   * Deletes at most `limit` rows of `table` older than `beforeNs` (epoch ns;
   * readings by event time, dead letters by receive time) in one statement;
   * resolves to how many it deleted. Commits queued meanwhile run before the
   * next slice.
   */
  deleteOlderThan(table: RetainedTable, beforeNs: bigint, limit: number): Promise<number>
}

/** Deletes at most `limit` rows of `table` whose time is before $1 (epoch ns). */
export function deleteSliceSql(table: RetainedTable, limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`slice limit ${limit}`)
  const column = RETAINED_TABLES[table]
  return `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${column} < $1 LIMIT ${limit})`
}

/**
 * One slice of readings, with the catalog (catalog.ts) kept to the table:
 * the readings deleted leave it with their slice, saved at once (a catalog
 * saved before them would count them again after a restart); past the last
 * slice, the trimmed devices' first event times are read again. The caller
 * holds the write connection; `storedTs` is the last committed.
 */
export async function deleteReadings(
  write: DuckDBConnection,
  catalog: Catalog,
  beforeNs: bigint,
  limit: number,
  storedTs: bigint,
): Promise<number> {
  const deleted = await write.runAndReadAll(`${deleteSliceSql(READINGS, limit)} RETURNING device`, [beforeNs])
  const devices = deleted.getRowsJS().map((row) => row[0] as string)
  catalog.removed(devices)
  if (devices.length < limit) await refreshFirstTs(write, catalog, beforeNs)
  await saveCatalog(write, catalog, storedTs)
  return devices.length
}

/** One slice on the store's write connection; resolves to the rows it deleted. */
export async function deleteSlice(
  write: DuckDBConnection,
  table: RetainedTable,
  beforeNs: bigint,
  limit: number,
): Promise<number> {
  return (await write.run(deleteSliceSql(table, limit), [beforeNs])).rowsChanged
}

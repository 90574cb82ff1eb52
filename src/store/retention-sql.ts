/**
 * Retention's deletes (src/jobs/retention.ts): rows older than a horizon,
 * one slice at a time. DuckDB has no `DELETE ... LIMIT`, so a slice is the
 * rowids of at most `limit` old rows. Each slice is its own statement on the
 * write connection, so ingest's commits, queued behind it, go in between
 * slices (duckdb-store.ts serializes writes).
 */

import type { DuckDBConnection } from '@duckdb/node-api'
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

/** One slice on the store's write connection; resolves to the rows it deleted. */
export async function deleteSlice(
  write: DuckDBConnection,
  table: RetainedTable,
  beforeNs: bigint,
  limit: number,
): Promise<number> {
  return (await write.run(deleteSliceSql(table, limit), [beforeNs])).rowsChanged
}

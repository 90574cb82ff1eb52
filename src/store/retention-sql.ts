/**
 * Retention's deletes (src/jobs/retention.ts): rows older than a horizon,
 * one slice at a time. DuckDB has no `DELETE ... LIMIT`, so a slice is the
 * rowids of at most `limit` old rows. Each slice is its own statement on the
 * write connection, so ingest's commits, queued behind it, go in between
 * slices (duckdb-store.ts serializes writes).
 */

import { READINGS } from './schema.js'

/** The tables retention deletes from, and the time column that ages each row (epoch ns). */
export const RETAINED_TABLES = {
  /** Event time, as corrected by the clock policy: the time the history routes select by. */
  [READINGS]: 'ts',
  /** Receive time: a dead letter may have no usable device time. */
  dead_letters: 'recv_ts',
} as const

export type RetainedTable = keyof typeof RETAINED_TABLES

/** Deletes at most `limit` rows of `table` whose time is before $1 (epoch ns). */
export function deleteSliceSql(table: RetainedTable, limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`slice limit ${limit}`)
  const column = RETAINED_TABLES[table]
  return `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${column} < $1 LIMIT ${limit})`
}

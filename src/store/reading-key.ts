/**
 * The order the history API returns readings in, and pages by (GET
 * /v1/telemetry, issue 23): event time, then device, boot, seq and idx, and
 * last stored_ts. (device, boot, seq, idx) names one sample and dedupe keeps
 * it unique, but no constraint of the table says so (schema.ts); stored_ts
 * is unique by construction (duckdb-store.ts), so with it the order is total
 * whatever the rows, and a page boundary can never fall between two equal
 * keys.
 */

import { sqlString } from './schema.js'

/** Where a reading stands in that order. */
export interface ReadingKey {
  readonly ts: bigint
  readonly device: string
  readonly boot: bigint
  readonly seq: bigint
  readonly idx: number
  readonly storedTs: bigint
}

/** The key's columns, in order. */
export const KEY_COLUMNS = 'ts, device, boot, seq, idx, stored_ts'

/** A row of KEY_COLUMNS as a ReadingKey. */
export function keyOfRow(row: readonly unknown[]): ReadingKey {
  return {
    ts: row[0] as bigint,
    device: row[1] as string,
    boot: row[2] as bigint,
    seq: row[3] as bigint,
    idx: Number(row[4]),
    storedTs: row[5] as bigint,
  }
}

/**
 * The rows after `key` (`>`) or up to it (`<=`), compared column by column.
 * Not as a row value, `(ts, …) > (…)`: DuckDB 1.5 folds a query's two row
 * comparisons into a BETWEEN that it then refuses for a STRUCT. The separate
 * bound on ts lets DuckDB skip row groups by their min/max of ts.
 */
export function keySql(op: '>' | '<=', key: ReadingKey): string {
  const values: Array<[string, string]> = [
    ['ts', `${key.ts}`],
    ['device', sqlString(key.device)],
    ['boot', `${key.boot}`],
    ['seq', `${key.seq}`],
    ['idx', `${key.idx}`],
    ['stored_ts', `${key.storedTs}`],
  ]
  const strict = op === '>' ? '>' : '<'
  const [lastColumn, lastValue] = values.at(-1)!
  let sql = `${lastColumn} ${op} ${lastValue}`
  for (const [column, value] of values.slice(0, -1).reverse())
    sql = `(${column} ${strict} ${value} OR (${column} = ${value} AND ${sql}))`
  return `ts ${op === '>' ? '>=' : '<='} ${key.ts} AND ${sql}`
}

/** The same order in JavaScript, for a source that cannot sort (InfluxDB history). */
export function compareKeys(a: ReadingKey, b: ReadingKey): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1
  // DuckDB compares VARCHAR by bytes; device ids are ASCII (DEVICE_ID_PATTERN), where code units are bytes.
  if (a.device !== b.device) return a.device < b.device ? -1 : 1
  if (a.boot !== b.boot) return a.boot < b.boot ? -1 : 1
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  if (a.idx !== b.idx) return a.idx - b.idx
  return a.storedTs === b.storedTs ? 0 : a.storedTs < b.storedTs ? -1 : 1
}

/** A returned reading's key. */
export function keyOf(row: {
  readonly ts: bigint
  readonly device: string
  readonly boot: bigint
  readonly seq: bigint
  readonly idx: number
  readonly stored_ts: bigint
}): ReadingKey {
  return {
    ts: row.ts,
    device: row.device,
    boot: row.boot,
    seq: row.seq,
    idx: row.idx,
    storedTs: row.stored_ts,
  }
}

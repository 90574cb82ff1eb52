/**
 * The history queries over a table shaped like `readings` (schema.ts): the
 * store runs them over its own table, InfluxDB history over a table it loads
 * (src/influx/history.ts). One query, whatever the source.
 */

import { fieldColumn, quoted, READING_COLUMNS, sqlString } from './schema.js'
import type { ParquetExport, ReadingQuery, ReadingRow, StoredField, WindowRow } from './store.js'
import { windowColumns, windowsSql } from './window-sql.js'

/** The readings of q from `table` in event-time order; for Parquet, times are TIMESTAMP_NS and field columns go by the field's name. */
export function readingsSql(
  table: string,
  q: ReadingQuery,
  fields: readonly StoredField[],
  parquet = false,
): string {
  const time = (c: string) => (parquet ? `make_timestamp_ns(${c}) AS ${c}` : c)
  const columns = READING_COLUMNS.map((c) => (c.endsWith('ts') ? time(c) : c))
  for (const f of fields)
    columns.push(parquet ? `${fieldColumn(f.name)} AS ${quoted(f.name)}` : fieldColumn(f.name))
  // `device IN ('a', 'b')` rather than a list: DuckDB pushes it into the scan.
  return `SELECT ${columns.join(', ')} FROM ${quoted(table)}
    WHERE device IN (${q.devices.map(sqlString).join(', ')}) AND ts >= ${q.fromNs} AND ts < ${q.toNs}
    ORDER BY ts, device, boot, seq, idx LIMIT ${Math.trunc(q.limit)}`
}

/** The fields a reading query returns, in table order. */
export function selectedFields(q: ReadingQuery, stored: readonly StoredField[]): readonly StoredField[] {
  return q.fields === null ? stored : stored.filter((f) => q.fields!.includes(f.name))
}

/** The `COPY ... TO path` of a Parquet export from `table`. */
export function parquetCopySql(
  table: string,
  request: ParquetExport,
  fields: readonly StoredField[],
  path: string,
): string {
  let sql: string
  if (request.kind === 'readings')
    sql = readingsSql(table, request.query, selectedFields(request.query, fields), true)
  else {
    const columns = windowColumns(request.query.features).map(quoted)
    const stored = new Set(fields.map((f) => f.name))
    sql = `SELECT device, make_timestamp_ns(window_end) AS window_end, ${columns.join(', ')}
      FROM (${windowsSql(request.query, stored, table)})`
  }
  return `COPY (${sql}) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`
}

/** A result row of READING_COLUMNS then the field columns, as the API's ReadingRow. */
export function readingRow(row: unknown[], fields: readonly StoredField[]): ReadingRow {
  const out: Record<string, number | bigint | boolean | null> = {}
  for (let i = 0; i < fields.length; i++) {
    const v = row[READING_COLUMNS.length + i] as number | bigint | boolean | null
    if (v !== null) out[fields[i]!.name] = v
  }
  return {
    device: row[0] as string,
    boot: row[1] as bigint,
    seq: row[2] as bigint,
    idx: row[3] as number,
    ts: row[4] as bigint,
    device_ts: row[5] as bigint | null,
    recv_ts: row[6] as bigint,
    offset_ns: row[7] as bigint,
    tags: row[8] as string | null,
    stored_ts: row[9] as bigint,
    newest_ts: row[10] as bigint,
    fields: out,
  }
}

/** A result row of windowsSql as a WindowRow. */
export function windowRow(row: unknown[]): WindowRow {
  return {
    device: row[0] as string,
    windowEndNs: row[1] as bigint,
    values: row.slice(2).map((v) => (v === null ? null : Number(v))),
  }
}

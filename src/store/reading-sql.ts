/**
 * The history queries over a table shaped like `readings` (schema.ts): the
 * store runs them over its own table, InfluxDB history over a table it loads
 * (src/influx/history.ts). One query, whatever the source.
 */

import { FIELDS_COLUMN, type FieldRef, fieldValueSql, quoted, READING_COLUMNS, sqlString } from './schema.js'
import type { ParquetExport, ReadingQuery, ReadingRow, WindowRow } from './store.js'
import { windowColumns, windowsSql } from './window-sql.js'

/**
 * The readings of q from `table` in event-time order, with their `fields`
 * map (readingRow keeps the fields asked for). For Parquet, times are
 * TIMESTAMP_NS and each of `fields` is a column of its own, by its name.
 */
export function readingsSql(
  table: string,
  q: ReadingQuery,
  fields: readonly FieldRef[],
  parquet = false,
): string {
  const time = (c: string) => (parquet ? `make_timestamp_ns(${c}) AS ${c}` : c)
  const columns = READING_COLUMNS.map((c) => (c.endsWith('ts') ? time(c) : c))
  if (parquet) for (const f of fields) columns.push(`${fieldValueSql(f)} AS ${quoted(f.name)}`)
  else columns.push(FIELDS_COLUMN)
  // `device IN ('a', 'b')` rather than a list: DuckDB pushes it into the scan.
  return `SELECT ${columns.join(', ')} FROM ${quoted(table)}
    WHERE device IN (${q.devices.map(sqlString).join(', ')}) AND ts >= ${q.fromNs} AND ts < ${q.toNs}
    ORDER BY ts, device, boot, seq, idx LIMIT ${Math.trunc(q.limit)}`
}

/** The fields a reading query returns, in id order. */
export function selectedFields(q: ReadingQuery, stored: readonly FieldRef[]): readonly FieldRef[] {
  return q.fields === null ? stored : stored.filter((f) => q.fields!.includes(f.name))
}

/** The `COPY ... TO path` of a Parquet export from `table`. */
export function parquetCopySql(
  table: string,
  request: ParquetExport,
  fields: readonly FieldRef[],
  path: string,
): string {
  let sql: string
  if (request.kind === 'readings')
    sql = readingsSql(table, request.query, selectedFields(request.query, fields), true)
  else {
    const columns = windowColumns(request.query.features).map(quoted)
    sql = `SELECT device, make_timestamp_ns(window_end) AS window_end, ${columns.join(', ')}
      FROM (${windowsSql(request.query, fields, table)})`
  }
  return `COPY (${sql}) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`
}

/** A field value as the map holds it (schema.ts). */
interface MapValue {
  readonly i: bigint | null
  readonly f: number | null
  readonly b: boolean | null
}

/** The reader of result rows of READING_COLUMNS then the `fields` map, as the API's ReadingRow with `fields` only. */
export function readingRows(fields: readonly FieldRef[]): (row: unknown[]) => ReadingRow {
  const byId = new Map(fields.map((f) => [f.id, f]))
  return (row) => {
    const out: Record<string, number | bigint | boolean | null> = {}
    for (const { key, value } of (row[READING_COLUMNS.length] ?? []) as Array<{
      key: number
      value: MapValue
    }>) {
      const f = byId.get(key)
      if (f === undefined) continue
      // A float field widened from int keeps its older values in i (schema.ts).
      out[f.name] = f.kind === 'int' ? value.i : f.kind === 'bool' ? value.b : (value.f ?? Number(value.i))
    }
    return readingRow(row, out)
  }
}

function readingRow(row: unknown[], out: Record<string, number | bigint | boolean | null>): ReadingRow {
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

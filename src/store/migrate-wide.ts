/**
 * A file of the wide layout (one column `"f_<name>"` per field, every
 * release before the `fields` map) brought to this one at open, in place:
 *
 *   1. one transaction: readings is renamed readings_wide (a file of the
 *      first layout, without stored_ts and newest_ts, is copied there with
 *      them, see below); `fields` is rebuilt with ids in the order of the
 *      field columns, so InfluxDB lines keep their field order; an empty
 *      readings of this layout is made.
 *   2. slices of SLICE_ROWS rows in stored_ts order, one transaction each:
 *      INSERT INTO readings SELECT ... FROM readings_wide after the last
 *      stored_ts copied. The rows keep their order, which the window
 *      queries' sums rely on (window-sql.ts).
 *   3. readings_wide is dropped.
 *
 * A process killed at any point resumes at open: while readings_wide exists,
 * step 2 goes on from the newest stored_ts in readings. The file holds both
 * copies until DuckDB reuses the freed blocks.
 */

import type { DuckDBConnection } from '@duckdb/node-api'
import {
  FIELDS,
  FIELDS_COLUMN,
  FIXED_COLUMNS,
  type FieldRef,
  fieldsMapSql,
  KIND_OF_SQL,
  quoted,
  READINGS,
  readingsTableSql,
  STORE_TABLES_SQL,
  sqlString,
  wideFieldColumn,
  wideFieldOfColumn,
} from './schema.js'

const WIDE = 'readings_wide'
/**
 * Rows a slice copies: one transaction's worth. Measured with the probe of
 * docs/design/storage-layout.md: 200,000 rows of 10 field columns in 1.3-1.6 s,
 * 50,000 rows of 510 in 1.8-4.8 s.
 */
export const SLICE_ROWS = 50_000

export interface WideMigration {
  /** Rows a slice copies (tests make it small). */
  readonly sliceRows?: number
  /** Called after each slice is committed, with the rows copied so far. */
  readonly onSlice?: (copied: number) => void
}

/** Brings a file of the wide layout to this one; does nothing to one of this layout. */
export async function migrateWide(w: DuckDBConnection, options: WideMigration = {}): Promise<void> {
  if (!(await hasTable(w, WIDE))) {
    const columns = await columnsOf(w, READINGS)
    if (columns.some(([c]) => c === FIELDS_COLUMN)) return
    await setUp(w, columns)
  }
  const fields = await fieldsOf(w)
  const map = fieldsMapSql(fields.map((field) => ({ field, sql: wideFieldColumn(field.name) })))
  const fixed = FIXED_COLUMNS.map(([name]) => name).join(', ')
  const sliceRows = options.sliceRows ?? SLICE_ROWS
  let copied = Number((await w.runAndReadAll(`SELECT count(*) FROM ${READINGS}`)).getRowsJS()[0]?.[0])
  for (;;) {
    const r = await w.runAndReadAll(`INSERT INTO ${READINGS} SELECT ${fixed}, ${map} FROM ${WIDE}
      WHERE stored_ts > (SELECT coalesce(max(stored_ts), -9223372036854775808) FROM ${READINGS})
      ORDER BY stored_ts LIMIT ${Math.trunc(sliceRows)}`)
    const n = Number(r.getRowsJS()[0]?.[0] ?? 0)
    if (n === 0) break
    copied += n
    options.onSlice?.(copied)
  }
  await w.run(`DROP TABLE ${WIDE}`)
}

/** Step 1: the wide table aside, the field ids, an empty readings of this layout; one transaction. */
async function setUp(w: DuckDBConnection, columns: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const fields: FieldRef[] = []
  for (const [column, type] of columns) {
    const name = wideFieldOfColumn(column)
    if (name === null) continue
    const kind = KIND_OF_SQL[type]
    if (kind === undefined) throw new Error(`${READINGS}.${column} has unexpected type ${type}`)
    fields.push({ id: fields.length + 1, name, kind })
  }
  await w.run('BEGIN TRANSACTION')
  try {
    if (columns.some(([c]) => c === 'stored_ts')) await w.run(`ALTER TABLE ${READINGS} RENAME TO ${WIDE}`)
    else await withArrivalColumns(w, fields)
    // `fields` of the wide layout had no ids: made again, its added_ns kept.
    const old = 'fields_wide'
    const hadFields = await hasTable(w, FIELDS)
    if (hadFields) await w.run(`ALTER TABLE ${FIELDS} RENAME TO ${old}`)
    for (const sql of STORE_TABLES_SQL) await w.run(sql)
    if (fields.length > 0) {
      const rows = fields.map((f) => `(${f.id}, ${sqlString(f.name)}, ${sqlString(f.kind)})`).join(', ')
      const addedNs = hadFields ? `(SELECT o.added_ns FROM ${old} o WHERE o.name = n.name)` : 'NULL'
      await w.run(`INSERT INTO ${FIELDS} SELECT n.id, n.name, n.kind, ${addedNs}
        FROM (VALUES ${rows}) n(id, name, kind)`)
    }
    if (hadFields) await w.run(`DROP TABLE ${old}`)
    await w.run(readingsTableSql(READINGS))
    await w.run('COMMIT')
  } catch (err) {
    await w.run('ROLLBACK').catch(() => undefined)
    throw err
  }
}

/**
 * A file made before stored_ts and newest_ts existed: its rows are copied
 * to readings_wide with them. Old rows are ordered by rowid (their insertion
 * order); their stored_ts is the running maximum of recv_ts plus the row
 * number, unique and increasing; newest_ts the running maximum of ts per device.
 */
async function withArrivalColumns(w: DuckDBConnection, fields: readonly FieldRef[]): Promise<void> {
  const wide = fields.map((f) => `, ${wideFieldColumn(f.name)}`).join('')
  await w.run(`CREATE TABLE ${WIDE} AS SELECT device, boot, seq, idx, ts, device_ts, recv_ts, offset_ns, crc, tags,
      max(recv_ts) OVER (ORDER BY rowid ROWS UNBOUNDED PRECEDING) + row_number() OVER (ORDER BY rowid) AS stored_ts,
      max(ts) OVER (PARTITION BY device ORDER BY rowid ROWS UNBOUNDED PRECEDING) AS newest_ts
      ${wide}
    FROM ${READINGS} ORDER BY rowid`)
  await w.run(`DROP TABLE ${READINGS}`)
}

async function hasTable(w: DuckDBConnection, table: string): Promise<boolean> {
  const r = await w.runAndReadAll(
    `SELECT count(*) FROM information_schema.tables WHERE table_name = ${sqlString(table)}`,
  )
  return (r.getRowsJS()[0]?.[0] as bigint) > 0n
}

/** A table's columns in order: name, SQL type. */
async function columnsOf(w: DuckDBConnection, table: string): Promise<Array<[string, string]>> {
  const r = await w.runAndReadAll(
    `SELECT column_name, data_type FROM information_schema.columns
     WHERE table_name = ${sqlString(table)} ORDER BY ordinal_position`,
  )
  return r.getRowsJS() as Array<[string, string]>
}

/** The fields with their ids, in id order; the ids are 1 to n, which line-sql.ts relies on. */
export async function fieldsOf(w: DuckDBConnection): Promise<FieldRef[]> {
  const r = await w.runAndReadAll(`SELECT id, name, kind FROM ${quoted(FIELDS)} ORDER BY id`)
  const fields = (r.getRowsJS() as Array<[number, string, FieldRef['kind']]>).map(([id, name, kind]) => ({
    id: Number(id),
    name,
    kind,
  }))
  for (const [k, f] of fields.entries())
    if (f.id !== k + 1) throw new Error(`${FIELDS}: field ${f.name} has id ${f.id}, not ${k + 1}`)
  return fields
}

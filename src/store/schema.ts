/**
 * The store's schema: the only place a table, a column name, a column type or
 * an SQL quoting rule is written. Every query of the store (and InfluxDB
 * history, which runs the same queries over a table of its own) builds its
 * names from here.
 *
 *   readings:      one row per sample; fixed columns, then `fields`, a MAP of
 *                  field id to its value: STRUCT(i BIGINT, f DOUBLE, b BOOLEAN),
 *                  the member of the field's pinned type set (an int field
 *                  widened to float keeps its older values in `i`).
 *                  stored_ts orders the rows as they were committed (unique,
 *                  increasing, epoch ns of the commit); newest_ts is the
 *                  device's newest event time once the reading arrived. The
 *                  history API reproduces the live features from these two.
 *   fields:        every field name, its id and its pinned type. A new name is
 *                  a row here, never a column: one column per name pinned two
 *                  256 KiB blocks per name while appending, and 1,034 names
 *                  invalidated the database (docs/design/storage-layout.md).
 *   checkpoints:   durable positions in the readings (the InfluxDB forwarder's,
 *                  and the catalog's: the last stored_ts `devices` holds)
 *   devices:       the catalog (catalog.ts): per device its event-time span,
 *                  last receive time, readings stored and field ids, as of
 *                  the catalog's checkpoint
 *   dead_letters:  every refused payload, with why, replayable
 */

import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBType,
  MAP,
  STRUCT,
  UBIGINT,
  UINTEGER,
  USMALLINT,
  VARCHAR,
} from '@duckdb/node-api'
import type { FieldKind } from '../core/telemetry.js'

/** A SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

/** A SQL identifier, quoted. */
export function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

/** A field as the SQL of the store knows it: its id is its key in the `fields` map of a reading. */
export interface FieldRef {
  readonly id: number
  readonly name: string
  readonly kind: FieldKind
}

/** The member of a field value's STRUCT that holds each kind. */
export const KIND_MEMBER: Readonly<Record<FieldKind, 'i' | 'f' | 'b'>> = { int: 'i', float: 'f', bool: 'b' }

/** The readings' column of field values, its SQL type and its appender chunk type. */
export const FIELDS_COLUMN = 'fields'
const VALUE_SQL = 'STRUCT(i BIGINT, f DOUBLE, b BOOLEAN)'
const FIELDS_SQL = `MAP(UINTEGER, ${VALUE_SQL})`
export const FIELDS_CHUNK_TYPE = MAP(UINTEGER, STRUCT({ i: BIGINT, f: DOUBLE, b: BOOLEAN }))

/**
 * A field's value in a row, of its pinned type. A float field that was an
 * int before it was widened (an `UPDATE fields`, no rewrite) keeps its older
 * values in `i`, read as DOUBLE.
 */
export function fieldValueSql(field: FieldRef): string {
  const value = `${FIELDS_COLUMN}[${field.id}]`
  return field.kind === 'float'
    ? `coalesce(${value}.f, ${value}.i::DOUBLE)`
    : `${value}.${KIND_MEMBER[field.kind]}`
}

/**
 * A `fields` map built from one SQL expression per field (NULL: the row
 * lacks it), in id order: how a file of the wide layout (one column per
 * field) becomes this one (migrate-wide.ts).
 */
export function fieldsMapSql(
  values: ReadonlyArray<{ readonly field: FieldRef; readonly sql: string }>,
): string {
  const entries = values.map(({ field, sql }) => {
    const members = (['i', 'f', 'b'] as const).map(
      (m) => `'${m}': ${m === KIND_MEMBER[field.kind] ? sql : 'NULL'}`,
    )
    return `CASE WHEN (${sql}) IS NOT NULL THEN {'key': ${field.id}, 'value': {${members.join(', ')}}} END`
  })
  return `map_from_entries(list_filter([${entries.join(', ')}], e -> e IS NOT NULL)::STRUCT(key UINTEGER, value ${VALUE_SQL})[])`
}

/** The field of a column of the wide layout (`f_temp` → `temp`), or null when it is not one. */
export function wideFieldOfColumn(column: string): string | null {
  return column.startsWith('f_') ? column.slice(2) : null
}

/** `"f_temp"`: a field's column in a table of the wide layout, quoted. */
export function wideFieldColumn(name: string): string {
  return quoted(`f_${name}`)
}

export const KIND_OF_SQL: Readonly<Record<string, FieldKind>> = {
  BIGINT: 'int',
  DOUBLE: 'float',
  BOOLEAN: 'bool',
}

/** The readings table's fixed columns, in table order: name, SQL type, appender chunk type. */
export const FIXED_COLUMNS: ReadonlyArray<readonly [string, string, DuckDBType]> = [
  ['device', 'VARCHAR NOT NULL', VARCHAR],
  ['boot', 'UBIGINT NOT NULL', UBIGINT],
  ['seq', 'UBIGINT NOT NULL', UBIGINT],
  ['idx', 'USMALLINT NOT NULL', USMALLINT],
  ['ts', 'BIGINT NOT NULL', BIGINT],
  ['device_ts', 'BIGINT', BIGINT],
  ['recv_ts', 'BIGINT NOT NULL', BIGINT],
  ['offset_ns', 'BIGINT NOT NULL', BIGINT],
  ['crc', 'UINTEGER NOT NULL', UINTEGER],
  ['tags', 'VARCHAR', VARCHAR],
  ['stored_ts', 'BIGINT NOT NULL', BIGINT],
  ['newest_ts', 'BIGINT NOT NULL', BIGINT],
]

/** The fixed columns a reading row is returned with, in order: all but the CRC, which is the store's own. */
export const READING_COLUMNS: readonly string[] = FIXED_COLUMNS.map(([name]) => name).filter(
  (c) => c !== 'crc',
)

/** The DDL of a table shaped like `readings`; `returned`: only READING_COLUMNS, nullable (a copy of query results). */
export function readingsTableSql(table: string, returned = false): string {
  const fixed = FIXED_COLUMNS.filter(([name]) => !returned || READING_COLUMNS.includes(name)).map(
    ([name, type]) => `${name} ${returned ? type.replace(' NOT NULL', '') : type}`,
  )
  return `CREATE TABLE ${quoted(table)} (${[...fixed, `${FIELDS_COLUMN} ${FIELDS_SQL}`].join(', ')})`
}

/** The columns window SQL reads (window-sql.ts): the DDL of a table of them. */
export function windowInputTableSql(table: string): string {
  const columns = ['device VARCHAR', 'ts BIGINT', 'stored_ts BIGINT', 'newest_ts BIGINT']
  return `CREATE TABLE ${quoted(table)} (${[...columns, `${FIELDS_COLUMN} ${FIELDS_SQL}`].join(', ')})`
}

/** The table of field names, ids and types. */
export const FIELDS = 'fields'

/** The catalog's table (catalog.ts), and its checkpoint's name. */
export const DEVICES = 'devices'
export const CATALOG_CHECKPOINT = 'catalog'

/** The store's tables but readings, which readingsTableSql makes. */
export const STORE_TABLES_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${FIELDS} (id UINTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, kind VARCHAR NOT NULL, added_ns BIGINT)`,
  'CREATE TABLE IF NOT EXISTS checkpoints (name VARCHAR PRIMARY KEY, stored_ts BIGINT NOT NULL)',
  `CREATE TABLE IF NOT EXISTS dead_letters (
    id UBIGINT PRIMARY KEY, recv_ts BIGINT NOT NULL, device VARCHAR, topic VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, detail VARCHAR NOT NULL, payload BLOB NOT NULL,
    replayed_at BIGINT, replay_result VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS ${DEVICES} (device VARCHAR NOT NULL, first_ts BIGINT NOT NULL,
    last_ts BIGINT NOT NULL, last_recv_ts BIGINT NOT NULL, readings UBIGINT NOT NULL, fields UINTEGER[] NOT NULL)`,
]

/** The table every store query reads. */
export const READINGS = 'readings'

/**
 * The store's schema: the only place a table, a column name, a column type or
 * an SQL quoting rule is written. Every query of the store (and InfluxDB
 * history, which runs the same queries over a table of its own) builds its
 * names from here.
 *
 *   readings:      one row per sample; fixed columns, then one column per field
 *                  ("f_<name>", its SQL type pinned: BIGINT, DOUBLE or BOOLEAN).
 *                  stored_ts orders the rows as they were committed (unique,
 *                  increasing, epoch ns of the commit); newest_ts is the
 *                  device's newest event time once the reading arrived. The
 *                  history API reproduces the live features from these two.
 *   fields:        the pinned field types
 *   checkpoints:   durable positions in the readings (the InfluxDB forwarder's)
 *   dead_letters:  every refused payload, with why, replayable
 */

import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBType,
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

/** `"f_temp"`: a field's column in a readings table, quoted. */
export function fieldColumn(name: string): string {
  return quoted(`f_${name}`)
}

/** The field name of a field column's name (`f_temp` → `temp`), or null when it is not one. */
export function fieldOfColumn(column: string): string | null {
  return column.startsWith('f_') ? column.slice(2) : null
}

export const SQL_TYPE: Readonly<Record<FieldKind, string>> = {
  int: 'BIGINT',
  float: 'DOUBLE',
  bool: 'BOOLEAN',
}
export const CHUNK_TYPE: Readonly<Record<FieldKind, DuckDBType>> = {
  int: BIGINT,
  float: DOUBLE,
  bool: BOOLEAN,
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
export function readingsTableSql(
  table: string,
  fields: ReadonlyArray<{ readonly name: string; readonly kind: FieldKind }>,
  returned = false,
): string {
  const fixed = FIXED_COLUMNS.filter(([name]) => !returned || READING_COLUMNS.includes(name)).map(
    ([name, type]) => `${name} ${returned ? type.replace(' NOT NULL', '') : type}`,
  )
  const columns = [...fixed, ...fields.map((f) => `${fieldColumn(f.name)} ${SQL_TYPE[f.kind]}`)]
  return `CREATE TABLE ${quoted(table)} (${columns.join(', ')})`
}

/** The DDL of a table of the columns window SQL reads (window-sql.ts), its fields as DOUBLE. */
export function windowInputTableSql(table: string, fields: readonly string[]): string {
  const columns = ['device VARCHAR', 'ts BIGINT', 'stored_ts BIGINT', 'newest_ts BIGINT']
  return `CREATE TABLE ${quoted(table)} (${[...columns, ...fields.map((f) => `${fieldColumn(f)} DOUBLE`)].join(', ')})`
}

/** The store's tables but readings, which readingsTableSql makes. */
export const STORE_TABLES_SQL: readonly string[] = [
  'CREATE TABLE IF NOT EXISTS fields (name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, added_ns BIGINT)',
  'CREATE TABLE IF NOT EXISTS checkpoints (name VARCHAR PRIMARY KEY, stored_ts BIGINT NOT NULL)',
  `CREATE TABLE IF NOT EXISTS dead_letters (
    id UBIGINT PRIMARY KEY, recv_ts BIGINT NOT NULL, device VARCHAR, topic VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, detail VARCHAR NOT NULL, payload BLOB NOT NULL,
    replayed_at BIGINT, replay_result VARCHAR)`,
]

/** The table every store query reads. */
export const READINGS = 'readings'

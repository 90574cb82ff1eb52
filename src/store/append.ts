/**
 * Writing a group commit's rows: readings as DuckDB data chunks built from
 * the batch's columns (reading-columns.ts), dead letters row by row. The
 * caller owns the transaction and flushes.
 */

import { type DuckDBAppender, DuckDBDataChunk, type DuckDBValue } from '@duckdb/node-api'
import type { DeadLetter } from '../core/telemetry.js'
import { NO_TAGS, type ReadingColumns } from './reading-columns.js'
import { CHUNK_TYPE, FIXED_COLUMNS } from './schema.js'
import type { StoredField } from './store.js'

/** DuckDB's vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048

/**
 * Appends the batch as data chunks, its stored_ts from firstStoredTs one ns
 * apart; `fields` are the table's field columns in order.
 */
export function appendReadings(
  appender: DuckDBAppender,
  cols: ReadingColumns,
  fields: readonly StoredField[],
  firstStoredTs: bigint,
): void {
  const types = [...FIXED_COLUMNS.map(([, , t]) => t), ...fields.map((f) => CHUNK_TYPE[f.kind])]
  const fieldIndex = new Map(fields.map((f, i) => [f.name, FIXED_COLUMNS.length + i]))
  for (const f of cols.fields) if (!fieldIndex.has(f.name)) throw new Error(`field ${f.name} has no column`)
  for (let start = 0; start < cols.length; start += CHUNK_ROWS) {
    const end = Math.min(start + CHUNK_ROWS, cols.length)
    const n = end - start
    const range = <T>(get: (i: number) => T): T[] => Array.from({ length: n }, (_, k) => get(start + k))
    const columns: DuckDBValue[][] = types.map(() => new Array<DuckDBValue>(n).fill(null))
    columns[0] = range((i) => cols.devices[cols.device[i]!]!)
    columns[1] = range((i) => BigInt(cols.boot[i]!))
    columns[2] = range((i) => BigInt(cols.seq[i]!))
    columns[3] = Array.from(cols.idx.subarray(start, end))
    columns[4] = Array.from(cols.ts.subarray(start, end))
    columns[5] = range((i) => (cols.hasDeviceTs[i] ? cols.deviceTs[i]! : null))
    columns[6] = Array.from(cols.recvTs.subarray(start, end))
    columns[7] = Array.from(cols.offset.subarray(start, end))
    columns[8] = Array.from(cols.crc.subarray(start, end))
    columns[9] = range((i) => (cols.tags[i] === NO_TAGS ? null : cols.tagSets[cols.tags[i]!]!))
    columns[10] = range((i) => firstStoredTs + BigInt(i))
    columns[11] = Array.from(cols.newestTs.subarray(start, end))
    for (const f of cols.fields) {
      const values = f.values
      columns[fieldIndex.get(f.name)!] = range((i) =>
        f.present[i] === 0 ? null : f.kind === 'bool' ? values[i] === 1 : (values[i] as number | bigint),
      )
    }
    const chunk = DuckDBDataChunk.create(types, n)
    chunk.setColumns(columns)
    appender.appendDataChunk(chunk)
  }
}

/** Appends the letters with ids from firstId, one apart. */
export function appendDeadLetters(
  appender: DuckDBAppender,
  letters: readonly DeadLetter[],
  firstId: bigint,
): void {
  let id = firstId
  for (const l of letters) {
    appender.appendUBigInt(id++)
    appender.appendBigInt(l.recvTsNs)
    if (l.device === null) appender.appendNull()
    else appender.appendVarchar(l.device)
    appender.appendVarchar(l.topic)
    appender.appendVarchar(l.reason)
    appender.appendVarchar(l.detail)
    appender.appendBlob(l.payload)
    appender.appendNull()
    appender.appendNull()
    appender.endRow()
  }
}

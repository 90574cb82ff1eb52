/**
 * Writing a group commit's rows: readings as DuckDB data chunks built from
 * the batch's columns (reading-columns.ts), dead letters row by row. The
 * caller owns the transaction and flushes.
 */

import {
  type DuckDBAppender,
  DuckDBDataChunk,
  type DuckDBMapEntry,
  type DuckDBValue,
  mapValue,
  structValue,
} from '@duckdb/node-api'
import type { DeadLetter, FieldKind } from '../core/telemetry.js'
import { type FieldEntries, NO_TAGS, type ReadingColumns } from './reading-columns.js'
import { FIELDS_CHUNK_TYPE, FIXED_COLUMNS, type FieldRef, KIND_MEMBER } from './schema.js'

/** DuckDB's vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048

/**
 * The one data chunk a store appends its readings through, reset for each
 * use: a new chunk per commit added 0.2-0.35 MB of RSS per commit until V8
 * collected it, and RSS stayed at 353 MB after 200,000 readings where one
 * reused chunk kept it at 136 MB (docs/design/storage-layout.md).
 */
export function readingsChunk(): DuckDBDataChunk {
  return DuckDBDataChunk.create([...FIXED_COLUMNS.map(([, , t]) => t), FIELDS_CHUNK_TYPE])
}

/**
 * Appends the batch through `chunk`, its stored_ts from firstStoredTs one ns
 * apart; `ids` gives each field of the batch its key in the `fields` map.
 */
export function appendReadings(
  appender: DuckDBAppender,
  chunk: DuckDBDataChunk,
  cols: ReadingColumns,
  ids: ReadonlyMap<string, number>,
  firstStoredTs: bigint,
): void {
  const fields = cols.fields
  const idOf = idsOfNames(fields, ids)
  const byId = (a: number, b: number) => idOf[fields.name[a]!]! - idOf[fields.name[b]!]!
  for (let start = 0; start < cols.length; start += CHUNK_ROWS) {
    const end = Math.min(start + CHUNK_ROWS, cols.length)
    const n = end - start
    const range = <T>(get: (i: number) => T): T[] => Array.from({ length: n }, (_, k) => get(start + k))
    const columns: DuckDBValue[][] = [
      range((i) => cols.devices[cols.device[i]!]!),
      range((i) => BigInt(cols.boot[i]!)),
      range((i) => BigInt(cols.seq[i]!)),
      Array.from(cols.idx.subarray(start, end)),
      Array.from(cols.ts.subarray(start, end)),
      range((i) => (cols.hasDeviceTs[i] ? cols.deviceTs[i]! : null)),
      Array.from(cols.recvTs.subarray(start, end)),
      Array.from(cols.offset.subarray(start, end)),
      Array.from(cols.crc.subarray(start, end)),
      range((i) => (cols.tags[i] === NO_TAGS ? null : cols.tagSets[cols.tags[i]!]!)),
      range((i) => firstStoredTs + BigInt(i)),
      Array.from(cols.newestTs.subarray(start, end)),
      range((i) => {
        // In id order, as `fields` lists them; packReadings made each name one entry a reading.
        const at = Array.from(
          { length: fields.start[i + 1]! - fields.start[i]! },
          (_, k) => fields.start[i]! + k,
        )
        if (at.length > 1) at.sort(byId)
        const entries: DuckDBMapEntry[] = at.map((e) => {
          const k = fields.name[e]!
          const kind = fields.kinds[k]!
          const v =
            kind === 'int' ? fields.int[e]! : kind === 'bool' ? fields.number[e] === 1 : fields.number[e]!
          return { key: idOf[k]!, value: fieldValue(kind, v) }
        })
        return mapValue(entries)
      }),
    ]
    chunk.reset()
    chunk.setColumns(columns)
    appender.appendDataChunk(chunk)
  }
}

/** Each name of the batch's id, by its index in `fields.names`. */
function idsOfNames(fields: FieldEntries, ids: ReadonlyMap<string, number>): number[] {
  return fields.names.map((name) => {
    const id = ids.get(name)
    if (id === undefined) throw new Error(`field ${name} has no id`)
    return id
  })
}

/** A field's value in the map: the member of its kind set. */
function fieldValue(kind: FieldKind, value: number | bigint | boolean): DuckDBValue {
  return structValue({ i: null, f: null, b: null, [KIND_MEMBER[kind]]: value })
}

/**
 * Appends one row's `fields` map, for a table of the readings' layout
 * filled row by row (InfluxDB history's scratch tables); `entries` in id
 * order, one per field.
 */
export function appendFields(
  appender: DuckDBAppender,
  entries: ReadonlyArray<readonly [FieldRef, number | bigint | boolean]>,
): void {
  const map = mapValue(entries.map(([f, v]) => ({ key: f.id, value: fieldValue(f.kind, v) })))
  appender.appendMap(map, FIELDS_CHUNK_TYPE)
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

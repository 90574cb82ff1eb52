/**
 * Writing a group commit's rows: readings as DuckDB data chunks built from
 * the batch's columns (reading-columns.ts), dead letters row by row. The
 * caller owns the transaction and flushes.
 */

import {
  type DuckDBAppender,
  DuckDBDataChunk,
  type DuckDBValue,
  mapValue,
  structValue,
} from '@duckdb/node-api'
import bindings from '@duckdb/node-bindings'
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
 * Returns the id of each of the batch's field names (by index in
 * `cols.fields.names`), for the catalog (catalog.ts).
 */
export function appendReadings(
  appender: DuckDBAppender,
  chunk: DuckDBDataChunk,
  cols: ReadingColumns,
  ids: ReadonlyMap<string, number>,
  firstStoredTs: bigint,
): readonly number[] {
  const idOf = idsOfNames(cols.fields, ids)
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
    ]
    chunk.reset()
    chunk.rowCount = n
    for (const [k, values] of columns.entries()) chunk.setColumnValues(k, values)
    writeFields(chunk, columns.length, cols.fields, idOf, start, end)
    appender.appendDataChunk(chunk)
  }
  return idOf
}

/**
 * Writes the `fields` maps of readings start to end into column `column`
 * of the chunk, each map in id order. Through DuckDB's vectors, as typed
 * arrays: node-api's values (a map of structs per reading) took 22 µs a
 * reading of 10 fields, six times the rest of the commit; this takes 3.
 *
 *   MAP = LIST(STRUCT(key UINTEGER, value STRUCT(i BIGINT, f DOUBLE, b BOOLEAN)))
 *   list entries (offset, length) per reading ─▶ keys, i, f, b per entry;
 *   a member is valid only in the entries of its kind.
 */
function writeFields(
  chunk: DuckDBDataChunk,
  column: number,
  fields: FieldEntries,
  idOf: readonly number[],
  start: number,
  end: number,
): void {
  const first = fields.start[start]!
  const total = fields.start[end]! - first
  const list = new BigUint64Array(2 * (end - start))
  const keys = new Uint32Array(total)
  const int = new BigInt64Array(total)
  const float = new Float64Array(total)
  const bool = new Uint8Array(total)
  const valid = { int: validity(total), float: validity(total), bool: validity(total) }
  const byId = (a: number, b: number) => idOf[fields.name[a]!]! - idOf[fields.name[b]!]!
  let at = 0
  for (let i = start; i < end; i++) {
    const from = fields.start[i]!
    const to = fields.start[i + 1]!
    list[2 * (i - start)] = BigInt(at)
    list[2 * (i - start) + 1] = BigInt(to - from)
    // packReadings made each name one entry of a reading: the map's keys are unique.
    const entries = Array.from({ length: to - from }, (_, k) => from + k)
    if (entries.length > 1) entries.sort(byId)
    for (const e of entries) {
      const name = fields.name[e]!
      const kind = fields.kinds[name]!
      keys[at] = idOf[name]!
      if (kind === 'int') int[at] = fields.int[e]!
      else if (kind === 'float') float[at] = fields.number[e]!
      else bool[at] = fields.number[e]!
      valid[kind][at >> 6]! |= 1n << BigInt(at & 63)
      at++
    }
  }
  const map = bindings.data_chunk_get_vector(chunk.chunk, column)
  bindings.list_vector_reserve(map, total)
  bindings.list_vector_set_size(map, total)
  copy(map, list)
  if (total === 0) return
  const entry = bindings.list_vector_get_child(map)
  copy(bindings.struct_vector_get_child(entry, 0), keys)
  const value = bindings.struct_vector_get_child(entry, 1)
  for (const [member, data, mask] of [
    [0, int, valid.int],
    [1, float, valid.float],
    [2, bool, valid.bool],
  ] as const) {
    const vector = bindings.struct_vector_get_child(value, member)
    copy(vector, data)
    bindings.vector_ensure_validity_writable(vector)
    bindings.copy_data_to_vector_validity(vector, 0, mask.buffer as ArrayBuffer, 0, mask.byteLength)
  }
}

/** A validity mask of n rows, all invalid. */
function validity(n: number): BigUint64Array {
  return new BigUint64Array(Math.max(1, Math.ceil(n / 64)))
}

function copy(vector: ReturnType<typeof bindings.data_chunk_get_vector>, data: ArrayBufferView): void {
  bindings.copy_data_to_vector(vector, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength)
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

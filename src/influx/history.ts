/**
 * History served from InfluxDB (`--history-source influx`, docs/influxdb.md):
 * /v1/telemetry and /v1/windows read what the forwarder wrote, with InfluxQL
 * on `/query` (InfluxDB 1.x, 2.x through its v1 compatibility endpoint, 3.x).
 *
 * - Readings: `SELECT *` in pages of PAGE rows by point time, answered as CSV
 *   (exact 64-bit integers; JSON numbers would round the nanosecond times),
 *   turned back into the rows the local store returns from the meta fields
 *   (src/store/line-sql.ts).
 * - Windows: the readings the features need (event time, stored and newest
 *   times, the fields) go page by page into a scratch DuckDB database under
 *   the data directory, and the same query as for the local store
 *   (src/store/window-sql.ts) computes the windows there: one window
 *   implementation whatever the source.
 */

import { randomUUID } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { parse } from 'csv-parse/sync'
import type { InfluxConfig } from '../config.js'
import {
  fieldColumn,
  type ParquetExport,
  READING_COLUMNS,
  type ReadingQuery,
  type ReadingRow,
  type StoredField,
  sqlString,
  type WindowQuery,
  type WindowRow,
  windowColumns,
  windowsSql,
} from '../store/index.js'

/** What the history routes ask of a source: the local store answers it, and so does this. */
export interface History {
  storedFields(): readonly StoredField[]
  readings(q: ReadingQuery): AsyncIterable<ReadingRow[]>
  windows(q: WindowQuery): AsyncIterable<WindowRow[]>
  exportParquet(request: ParquetExport): Promise<{ path: string; rows: number }>
}

const PAGE = 50_000
const MS = 1_000_000n
const META = ['@boot', '@seq', '@idx', '@ts', '@recv', '@stored', '@newest', '@offset', '@device_ts']

export class InfluxHistory implements History {
  readonly #config: InfluxConfig
  readonly #fields: () => readonly StoredField[]
  readonly #scratchDir: string
  readonly #page: number

  /** `fields`: the store's pinned fields, which give each InfluxDB field its type back. */
  constructor(config: InfluxConfig, fields: () => readonly StoredField[], dataDir: string, page = PAGE) {
    this.#config = config
    this.#fields = fields
    this.#scratchDir = join(dataDir, 'exports')
    this.#page = page
  }

  storedFields(): readonly StoredField[] {
    return this.#fields()
  }

  /**
   * Readings in point-time order (the event time's millisecond, then the
   * tie-breaker): within one millisecond the order can differ from the local
   * store's, the rows are the same.
   */
  async *readings(q: ReadingQuery): AsyncGenerator<ReadingRow[]> {
    const wanted = q.fields === null ? null : new Set(q.fields)
    const kinds = new Map(this.#fields().map((f) => [f.name, f.kind]))
    let sent = 0
    for await (const page of this.#points(q.devices, q.fromNs, q.toNs, '*', null)) {
      const rows: ReadingRow[] = []
      for (const point of page) {
        const row = this.#row(point, kinds, wanted)
        if (row.ts < q.fromNs || row.ts >= q.toNs) continue
        rows.push(row)
        if (++sent >= q.limit) break
      }
      if (rows.length > 0) yield rows
      if (sent >= q.limit) return
    }
  }

  async *windows(q: WindowQuery): AsyncGenerator<WindowRow[]> {
    const scratch = await this.#load(q)
    try {
      const result = await scratch.connection.stream(windowsSql(q, scratch.fields))
      for await (const rows of result.yieldRowsJs())
        yield rows.map((row) => ({
          device: row[0] as string,
          windowEndNs: row[1] as bigint,
          values: row.slice(2).map((v) => (v === null ? null : Number(v))),
        }))
    } finally {
      scratch.close()
    }
  }

  async exportParquet(request: ParquetExport): Promise<{ path: string; rows: number }> {
    mkdirSync(this.#scratchDir, { recursive: true })
    const path = join(this.#scratchDir, `${randomUUID()}.parquet`)
    if (request.kind === 'windows') {
      const scratch = await this.#load(request.query)
      try {
        const columns = windowColumns(request.query.features).map((c) => `"${c}"`)
        const r = await scratch.connection.runAndReadAll(`COPY (
          SELECT device, make_timestamp_ns(window_end) AS window_end, ${columns.join(', ')}
          FROM (${windowsSql(request.query, scratch.fields)})) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`)
        return { path, rows: Number(r.getRowsJS()[0]?.[0] ?? 0) }
      } catch (err) {
        rmSync(path, { force: true })
        throw err
      } finally {
        scratch.close()
      }
    }
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    try {
      // Readings: through a table like the store's, so the file has the local one's columns.
      const fields =
        request.query.fields === null
          ? this.#fields()
          : this.#fields().filter((f) => request.query.fields!.includes(f.name))
      await connection.run(`CREATE TABLE r (device VARCHAR, ts BIGINT, boot UBIGINT, seq UBIGINT, idx USMALLINT,
        device_ts BIGINT, recv_ts BIGINT, offset_ns BIGINT, tags VARCHAR, stored_ts BIGINT, newest_ts BIGINT
        ${fields.map((f) => `, ${fieldColumn(f.name)} ${SQL_TYPE[f.kind]}`).join('')})`)
      const appender = await connection.createAppender('r')
      for await (const rows of this.readings(request.query))
        for (const row of rows) {
          appender.appendVarchar(row.device)
          appender.appendBigInt(row.ts)
          appender.appendUBigInt(row.boot)
          appender.appendUBigInt(row.seq)
          appender.appendUSmallInt(row.idx)
          if (row.device_ts === null) appender.appendNull()
          else appender.appendBigInt(row.device_ts)
          appender.appendBigInt(row.recv_ts)
          appender.appendBigInt(row.offset_ns)
          if (row.tags === null) appender.appendNull()
          else appender.appendVarchar(row.tags)
          appender.appendBigInt(row.stored_ts)
          appender.appendBigInt(row.newest_ts)
          for (const f of fields) appendField(appender, row.fields[f.name] ?? null)
          appender.endRow()
        }
      appender.closeSync()
      // The columns, names and types of the local store's Parquet (duckdb-store.ts).
      const select = READING_COLUMNS.map((c) =>
        c.endsWith('ts') ? `make_timestamp_ns(${c}) AS ${c}` : c,
      ).concat(fields.map((f) => `${fieldColumn(f.name)} AS "${f.name}"`))
      const r = await connection.runAndReadAll(
        `COPY (SELECT ${select.join(', ')} FROM r ORDER BY ts, device, boot, seq, idx) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`,
      )
      return { path, rows: Number(r.getRowsJS()[0]?.[0] ?? 0) }
    } catch (err) {
      rmSync(path, { force: true })
      throw err
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
  }

  /** The readings the features need, in a scratch DuckDB database shaped like the store's. */
  async #load(q: WindowQuery): Promise<{ connection: DuckDBConnection; fields: Set<string>; close(): void }> {
    mkdirSync(this.#scratchDir, { recursive: true })
    const file = join(this.#scratchDir, `${randomUUID()}.duckdb`)
    const instance = await DuckDBInstance.create(file)
    const connection = await instance.connect()
    const close = () => {
      connection.closeSync()
      instance.closeSync()
      rmSync(file, { force: true })
      rmSync(`${file}.wal`, { force: true })
    }
    try {
      const kinds = new Map(this.#fields().map((f) => [f.name, f.kind]))
      const fields = [...new Set(q.features.map((f) => f.field))].filter((f) => kinds.has(f))
      await connection.run(`CREATE TABLE raw (device VARCHAR, ts BIGINT, stored_ts BIGINT, newest_ts BIGINT
        ${fields.map((f) => `, ${fieldColumn(f)} DOUBLE`).join('')})`)
      if (fields.length > 0) {
        // The longest window reaches this far before `from` (bigints: no Math.max).
        let maxSize = 0n
        for (const f of q.features) if (f.sizeNs > maxSize) maxSize = f.sizeNs
        const select = [
          '"@ts"',
          '"@stored"',
          '"@newest"',
          ...fields.map((f) => `"${f.replaceAll('"', '\\"')}"`),
        ]
        const appender = await connection.createAppender('raw')
        for await (const page of this.#points(
          q.devices,
          q.fromNs - maxSize,
          q.toNs,
          select.join(', '),
          q.asOfNs,
        )) {
          for (const p of page) {
            appender.appendVarchar(p.device!)
            appender.appendBigInt(BigInt(p['@ts']!))
            appender.appendBigInt(BigInt(p['@stored']!))
            appender.appendBigInt(BigInt(p['@newest']!))
            for (const f of fields) {
              const v = p[f]
              if (v === undefined || v === '') appender.appendNull()
              else appender.appendDouble(kinds.get(f) === 'bool' ? (v === 'true' ? 1 : 0) : Number(v))
            }
            appender.endRow()
          }
        }
        appender.closeSync()
      }
      // In stored order, as the store keeps them: each window folds its readings in that order.
      await connection.run('CREATE TABLE readings AS SELECT * FROM raw ORDER BY stored_ts')
      await connection.run('DROP TABLE raw')
      return { connection, fields: new Set(fields), close }
    } catch (err) {
      close()
      throw err
    }
  }

  /**
   * Points of the devices (null: all) whose event time may lie in
   * [fromNs, toNs), page by page: point time is the event time's millisecond
   * plus less than a millisecond, so the range is widened by one. Pages
   * follow point time; a page boundary inside one timestamp is resumed
   * without repeating the points already given.
   */
  async *#points(
    devices: readonly string[] | null,
    fromNs: bigint,
    toNs: bigint,
    select: string,
    asOfNs: bigint | null,
  ): AsyncGenerator<Array<Record<string, string>>> {
    const measurement = `"${this.#config.measurement}"`
    const deviceClause =
      devices === null ? '' : ` AND (${devices.map((d) => `"device" = ${sqlString(d)}`).join(' OR ')})`
    const asOf = asOfNs === null ? '' : ` AND "@stored" <= ${asOfNs}`
    const selectDevice = select === '*' ? '*' : `${select}, "device"`
    const range = (lower: string) =>
      `SELECT ${selectDevice} FROM ${measurement} WHERE ${lower} AND time < ${toNs + MS}${deviceClause}${asOf}`
    let lower = `time >= ${fromNs - MS}`
    for (;;) {
      const points = await this.#query(`${range(lower)} ORDER BY time LIMIT ${this.#page}`)
      if (points.length > 0) yield points
      if (points.length < this.#page) return
      // The page may end inside one timestamp (many devices, one millisecond,
      // one seq): the rest of that timestamp comes whole (at most one point a
      // series), then the pages go on after it.
      const last = points[points.length - 1]!.time!
      const seen = new Set(points.filter((p) => p.time === last).map(key))
      const rest = (await this.#query(range(`time = ${last}`))).filter((p) => !seen.has(key(p)))
      if (rest.length > 0) yield rest
      lower = `time > ${last}`
    }
  }

  async #query(q: string): Promise<Array<Record<string, string>>> {
    const db = this.#config.db ?? this.#config.bucket!
    const params = new URLSearchParams({ db, q, epoch: 'ns' })
    if (this.#config.rp !== null) params.set('rp', this.#config.rp)
    const headers: Record<string, string> = { accept: 'application/csv' }
    if (this.#config.token !== null) headers.authorization = `Token ${this.#config.token}`
    const res = await fetch(`${this.#config.url}/query?${params}`, {
      headers,
      signal: AbortSignal.timeout(120_000),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`InfluxDB /query: ${res.status} ${text.slice(0, 300)}`)
    if (text.startsWith('{')) {
      const error = (JSON.parse(text) as { error?: string }).error
      if (error !== undefined) throw new Error(`InfluxDB /query: ${error}`)
      return []
    }
    if (text.trim() === '') return []
    // Header cells of quoted field keys come back quoted twice; csv-parse undoes one level.
    return parse(text, { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>
  }

  /** A point as the local store's row; `kinds` gives each stored field its type back. */
  #row(
    p: Record<string, string>,
    kinds: ReadonlyMap<string, StoredField['kind']>,
    wanted: ReadonlySet<string> | null,
  ): ReadingRow {
    const fields: Record<string, number | bigint | boolean | null> = {}
    const tags: Record<string, string> = {}
    for (const [column, value] of Object.entries(p)) {
      if (value === '' || META.includes(column) || ['name', 'tags', 'time', 'device'].includes(column))
        continue
      const kind = kinds.get(column)
      if (kind === undefined) tags[column] = value
      else if (wanted === null || wanted.has(column))
        fields[column] = kind === 'int' ? BigInt(value) : kind === 'bool' ? value === 'true' : Number(value)
    }
    const sortedTags = Object.keys(tags).sort()
    return {
      device: p.device!,
      boot: BigInt(p['@boot']!),
      seq: BigInt(p['@seq']!),
      idx: Number(p['@idx']),
      ts: BigInt(p['@ts']!),
      device_ts: p['@device_ts'] === undefined || p['@device_ts'] === '' ? null : BigInt(p['@device_ts']),
      recv_ts: BigInt(p['@recv']!),
      offset_ns: BigInt(p['@offset']!),
      stored_ts: BigInt(p['@stored']!),
      newest_ts: BigInt(p['@newest']!),
      // Only allow-listed tags were written: the others cannot come back.
      tags:
        sortedTags.length === 0
          ? null
          : JSON.stringify(Object.fromEntries(sortedTags.map((k) => [k, tags[k]]))),
      fields,
    }
  }
}

/** A point's identity: stored_ts is unique per reading (and per device, in any case). */
function key(p: Record<string, string>): string {
  return `${p.device} ${p['@stored']}`
}

const SQL_TYPE = { int: 'BIGINT', float: 'DOUBLE', bool: 'BOOLEAN' } as const

function appendField(
  appender: Awaited<ReturnType<DuckDBConnection['createAppender']>>,
  value: number | bigint | boolean | null,
): void {
  if (value === null) appender.appendNull()
  else if (typeof value === 'bigint') appender.appendBigInt(value)
  else if (typeof value === 'boolean') appender.appendBoolean(value)
  else appender.appendDouble(value)
}

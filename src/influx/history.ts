/**
 * History served from InfluxDB (`--history-source influx`, docs/influxdb.md):
 * /v1/telemetry and /v1/windows read what the forwarder wrote, with InfluxQL
 * on `/query` (InfluxDB 1.x, 2.x through its v1 compatibility endpoint, 3.x).
 *
 * - Readings: `SELECT *` in pages of PAGE rows by point time, answered as CSV
 *   (exact 64-bit integers; JSON numbers would round the nanosecond times),
 *   turned back into the rows the local store returns from the meta fields
 *   (src/store/line-sql.ts, point-row.ts).
 * - Windows and Parquet: the points go page by page into a table of a
 *   scratch DuckDB database under the data directory, made by the store's
 *   schema (src/store/schema.ts), and the store's own queries run over that
 *   table by its name (src/store/window-sql.ts, reading-sql.ts): one window
 *   and export implementation whatever the source.
 */

import { randomUUID } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { parse } from 'csv-parse/sync'
import type { InfluxConfig } from '../config.js'
import {
  appendFields,
  type FieldRef,
  type HistoryReader,
  keyOf,
  type ParquetExport,
  parquetCopySql,
  type ReadingKey,
  type ReadingPage,
  type ReadingQuery,
  type ReadingRow,
  readingsTableSql,
  type StoredField,
  sqlString,
  type WindowQuery,
  type WindowRow,
  windowInputTableSql,
  windowRow,
  windowsSql,
} from '../store/index.js'
import { readingsOfPoints } from './point-row.js'

const PAGE = 50_000
/** The scratch tables: what window SQL reads, and a copy of readings for a Parquet export. */
const WINDOW_INPUT = 'influx_window_input'
const READINGS_COPY = 'influx_readings'
const MS = 1_000_000n

export class InfluxHistory implements HistoryReader {
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

  /** Readings in the order of reading-key.ts (point-row.ts). */
  async *readings(q: ReadingQuery): AsyncGenerator<ReadingRow[]> {
    const kinds = new Map(this.#fields().map((f) => [f.name, f.kind]))
    yield* readingsOfPoints(this.#points(q.devices, q.fromNs, q.toNs, '*', q.asOfNs ?? null), q, kinds)
  }

  /** The snapshot: the newest `@stored` written (or q's, when older); then the page's last reading, if more follow. */
  async readingPage(q: ReadingQuery): Promise<ReadingPage> {
    const [newest] = await this.#query(`SELECT max("@stored") FROM "${this.#config.measurement}"`)
    const asked = q.asOfNs ?? null
    if (newest?.max === undefined || newest.max === '') return { asOfNs: asked, last: null }
    const asOfNs = asked !== null && asked < BigInt(newest.max) ? asked : BigInt(newest.max)
    let [count, last] = [0, null as ReadingKey | null]
    for await (const rows of this.readings({ ...q, asOfNs, fields: [], limit: q.limit + 1 }))
      for (const row of rows) if (++count === q.limit) last = keyOf(row)
    return { asOfNs, last: count > q.limit ? last : null }
  }

  async *windows(q: WindowQuery): AsyncGenerator<WindowRow[]> {
    const scratch = await this.#load(q)
    try {
      const result = await scratch.connection.stream(windowsSql(q, scratch.fields, WINDOW_INPUT))
      for await (const rows of result.yieldRowsJs()) yield rows.map(windowRow)
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
        const r = await scratch.connection.runAndReadAll(
          parquetCopySql(WINDOW_INPUT, request, scratch.fields, path),
        )
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
      // Readings: through a table of the store's reading columns, then the store's own export query.
      // Ids of the copy's own, in the store's field order.
      const fields: FieldRef[] = this.#fields()
        .filter((f) => request.query.fields === null || request.query.fields.includes(f.name))
        .map((f, k) => ({ id: k + 1, name: f.name, kind: f.kind }))
      await connection.run(readingsTableSql(READINGS_COPY, true))
      const appender = await connection.createAppender(READINGS_COPY)
      for await (const rows of this.readings(request.query))
        for (const row of rows) {
          appender.appendVarchar(row.device)
          appender.appendUBigInt(row.boot)
          appender.appendUBigInt(row.seq)
          appender.appendUSmallInt(row.idx)
          appender.appendBigInt(row.ts)
          if (row.device_ts === null) appender.appendNull()
          else appender.appendBigInt(row.device_ts)
          appender.appendBigInt(row.recv_ts)
          appender.appendBigInt(row.offset_ns)
          if (row.tags === null) appender.appendNull()
          else appender.appendVarchar(row.tags)
          appender.appendBigInt(row.stored_ts)
          appender.appendBigInt(row.newest_ts)
          const values: Array<[FieldRef, number | bigint | boolean]> = []
          for (const f of fields) {
            const v = row.fields[f.name]
            if (v !== undefined && v !== null) values.push([f, v])
          }
          appendFields(appender, values)
          appender.endRow()
        }
      appender.closeSync()
      const r = await connection.runAndReadAll(parquetCopySql(READINGS_COPY, request, fields, path))
      return { path, rows: Number(r.getRowsJS()[0]?.[0] ?? 0) }
    } catch (err) {
      rmSync(path, { force: true })
      throw err
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
  }

  /**
   * The readings the features need, in table WINDOW_INPUT of a scratch
   * DuckDB database, in the store's layout; each field a DOUBLE, by an id of
   * the scratch's own.
   */
  async #load(q: WindowQuery): Promise<{ connection: DuckDBConnection; fields: FieldRef[]; close(): void }> {
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
      const refs: FieldRef[] = fields.map((name, k) => ({ id: k + 1, name, kind: 'float' }))
      await connection.run(windowInputTableSql('raw'))
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
            const values: Array<[FieldRef, number]> = []
            for (const f of refs) {
              const v = p[f.name]
              if (v !== undefined && v !== '')
                values.push([f, kinds.get(f.name) === 'bool' ? (v === 'true' ? 1 : 0) : Number(v)])
            }
            appendFields(appender, values)
            appender.endRow()
          }
        }
        appender.closeSync()
      }
      // In stored order, as the store keeps them: each window folds its readings in that order.
      await connection.run(`CREATE TABLE ${WINDOW_INPUT} AS SELECT * FROM raw ORDER BY stored_ts`)
      await connection.run('DROP TABLE raw')
      return { connection, fields: refs, close }
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
}

/** A point's identity: stored_ts is unique per reading (and per device, in any case). */
function key(p: Record<string, string>): string {
  return `${p.device} ${p['@stored']}`
}

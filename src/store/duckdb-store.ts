/**
 * The embedded store: one DuckDB database file in the data directory.
 *
 * It runs in the store's worker thread (worker-store.ts), so its synchronous
 * calls never stall the event loop. Writes go through one connection, one at a
 * time: a batch is appended as columnar data chunks and made durable by one
 * commit, which writes and fsyncs DuckDB's WAL. A readings-only batch is the
 * flush of a standing appender (its own transaction); a batch with dead
 * letters or new field columns is one explicit transaction. Reads use a
 * second connection and see committed data only.
 *
 *   readings:      one row per sample; fixed columns, then one column per field
 *                  ("f_<name>", its SQL type pinned: BIGINT, DOUBLE or BOOLEAN).
 *                  stored_ts orders the rows as they were committed (unique,
 *                  increasing, epoch ns of the commit); newest_ts is the
 *                  device's newest event time once the reading arrived. The
 *                  history API reproduces the live features from these two.
 *   fields:        the pinned field types
 *   dead_letters:  every refused payload, with why, replayable
 */

import { randomUUID } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  listValue,
  UBIGINT,
  UINTEGER,
  USMALLINT,
  VARCHAR,
} from '@duckdb/node-api'
import type { DeadLetter, FieldKind, Reading } from '../core/telemetry.js'
import { type LineOptions, linesSql } from './line-sql.js'
import { NO_TAGS, packReadings, type ReadingColumns } from './reading-columns.js'
import type {
  DeadLetterQuery,
  DeadLetterRow,
  LineBatch,
  ParquetExport,
  ReadingQuery,
  ReadingRow,
  SeqRun,
  Store,
  StoredField,
  StoreMemory,
  StoreOptions,
  WindowRow,
} from './store.js'
import { DEFAULT_STORE_MEMORY_MB, fieldColumn, READING_COLUMNS, sqlString } from './store.js'
import { type WindowQuery, windowColumns, windowsSql } from './window-sql.js'

const SQL_TYPE: Record<FieldKind, string> = { int: 'BIGINT', float: 'DOUBLE', bool: 'BOOLEAN' }
const CHUNK_TYPE: Record<FieldKind, DuckDBType> = { int: BIGINT, float: DOUBLE, bool: BOOLEAN }
const KIND_OF_SQL: Record<string, FieldKind> = { BIGINT: 'int', DOUBLE: 'float', BOOLEAN: 'bool' }

/**
 * How often DuckDB moves its WAL into the database file, and in what units.
 * That checkpoint runs inside the commit that crosses the threshold, and no
 * other commit proceeds until it ends; it rewrites the table's last,
 * partly filled row group whole. With DuckDB's defaults (16 MB of WAL,
 * row groups of 122,880 rows) every ~14 s at 10,000 readings/s a commit
 * waited 60-200 ms, and every device's PUBACK and live event behind it.
 * Row groups of 16,384 rows and a 2 MB threshold keep each checkpoint's
 * work small: measured alone at that rate, the longest commit went from
 * 95 ms to 17 ms (docs/configuration.md).
 */
const CHECKPOINT_THRESHOLD = '2MB'
const ROW_GROUP_ROWS = 16_384

/** DuckDB's vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048

const FIXED_COLUMNS: ReadonlyArray<readonly [string, string, DuckDBType]> = [
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

export class DuckDBStore implements Store {
  readonly #instance: DuckDBInstance
  readonly #write: DuckDBConnection
  readonly #read: DuckDBConnection
  /** Field columns in table order, after the fixed ones. */
  readonly #fields: StoredField[] = []
  #nextDeadLetterId = 1n
  /** The stored_ts of the last reading committed. */
  #lastStoredTs = 0n
  /** The standing appender of readings-only commits (see #commit). */
  #appender: DuckDBAppender | null = null
  #closed = false
  /** Operations on the write connection, one at a time: a transaction must not take in another's statements. */
  #writes: Promise<unknown> = Promise.resolve()

  /** Parquet files being written or served; emptied at open. */
  readonly #exportsDir: string

  private constructor(
    instance: DuckDBInstance,
    write: DuckDBConnection,
    read: DuckDBConnection,
    exportsDir: string,
  ) {
    this.#instance = instance
    this.#write = write
    this.#read = read
    this.#exportsDir = exportsDir
  }

  static async open(
    dataDir: string,
    options: StoreOptions = { memoryMb: DEFAULT_STORE_MEMORY_MB },
  ): Promise<DuckDBStore> {
    mkdirSync(dataDir, { recursive: true })
    const exportsDir = join(dataDir, 'exports')
    rmSync(exportsDir, { recursive: true, force: true })
    mkdirSync(exportsDir)
    // A deliberate bound instead of DuckDB's default (80 % of the machine): a
    // history query larger than this spills to the data directory, it does
    // not grow the process.
    // The row group size is an option of ATTACH only, hence an in-memory
    // instance that attaches the file and makes it every connection's default.
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: `${options.memoryMb}MB`,
      temp_directory: join(dataDir, 'spill'),
      checkpoint_threshold: CHECKPOINT_THRESHOLD,
    })
    const connect = async (): Promise<DuckDBConnection> => {
      const connection = await instance.connect()
      await connection.run('USE telemetry')
      return connection
    }
    const setup = await instance.connect()
    await setup.run(
      `ATTACH ${sqlString(join(dataDir, 'telemetry.duckdb'))} AS telemetry (ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
    )
    setup.closeSync()
    const store = new DuckDBStore(instance, await connect(), await connect(), exportsDir)
    await store.#migrate()
    return store
  }

  async #migrate(): Promise<void> {
    const w = this.#write
    await w.run(
      `CREATE TABLE IF NOT EXISTS readings (${FIXED_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`,
    )
    await w.run(
      'CREATE TABLE IF NOT EXISTS fields (name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, added_ns BIGINT)',
    )
    await w.run(
      'CREATE TABLE IF NOT EXISTS checkpoints (name VARCHAR PRIMARY KEY, stored_ts BIGINT NOT NULL)',
    )
    await w.run(`CREATE TABLE IF NOT EXISTS dead_letters (
      id UBIGINT PRIMARY KEY, recv_ts BIGINT NOT NULL, device VARCHAR, topic VARCHAR NOT NULL,
      reason VARCHAR NOT NULL, detail VARCHAR NOT NULL, payload BLOB NOT NULL,
      replayed_at BIGINT, replay_result VARCHAR)`)
    const columns = await this.#read.runAndReadAll(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_name = 'readings' AND column_name LIKE 'f\\_%' ESCAPE '\\' ORDER BY ordinal_position`,
    )
    for (const [column, type] of columns.getRowsJS() as [string, string][]) {
      const kind = KIND_OF_SQL[type]
      if (kind === undefined) throw new Error(`readings.${column} has unexpected type ${type}`)
      this.#fields.push({ name: column.slice(2), kind })
    }
    await this.#addArrivalColumns()
    const maxId = await this.#read.runAndReadAll('SELECT coalesce(max(id), 0) FROM dead_letters')
    this.#nextDeadLetterId = (maxId.getRowsJS()[0]?.[0] as bigint) + 1n
    const maxStored = await this.#read.runAndReadAll('SELECT coalesce(max(stored_ts), 0) FROM readings')
    this.#lastStoredTs = maxStored.getRowsJS()[0]?.[0] as bigint
  }

  /**
   * A database made before stored_ts and newest_ts existed gets them, in
   * their place among the fixed columns: the table is rebuilt once. Old rows
   * are ordered by rowid (their insertion order); their stored_ts is the
   * running maximum of recv_ts plus the row number, unique and increasing.
   */
  async #addArrivalColumns(): Promise<void> {
    const w = this.#write
    const has = await w.runAndReadAll(
      "SELECT count(*) FROM information_schema.columns WHERE table_name = 'readings' AND column_name = 'stored_ts'",
    )
    if ((has.getRowsJS()[0]?.[0] as bigint) > 0n) return
    // The field columns (#fields, read before this) keep their names, types and order.
    const fields = this.#fields.map((f) => `${fieldColumn(f.name)} ${SQL_TYPE[f.kind]}`)
    const fieldNames = this.#fields.map((f) => fieldColumn(f.name))
    await w.run('BEGIN TRANSACTION')
    try {
      await w.run('ALTER TABLE readings RENAME TO readings_v1')
      await w.run(
        `CREATE TABLE readings (${[...FIXED_COLUMNS.map(([n, t]) => `${n} ${t}`), ...fields].join(', ')})`,
      )
      await w.run(`INSERT INTO readings SELECT device, boot, seq, idx, ts, device_ts, recv_ts, offset_ns, crc, tags,
          max(recv_ts) OVER (ORDER BY rowid ROWS UNBOUNDED PRECEDING) + row_number() OVER (ORDER BY rowid),
          max(ts) OVER (PARTITION BY device ORDER BY rowid ROWS UNBOUNDED PRECEDING)
          ${fieldNames.map((f) => `, ${f}`).join('')}
        FROM readings_v1 ORDER BY rowid`)
      await w.run('DROP TABLE readings_v1')
      await w.run('COMMIT')
    } catch (err) {
      await w.run('ROLLBACK').catch(() => undefined)
      throw err
    }
  }

  /** Field columns the store holds, in table order. */
  storedFields(): readonly StoredField[] {
    return this.#fields
  }

  /**
   * Widens an integer field to float (a configuration change). DuckDB casts
   * the stored values; nothing else changes type.
   */
  widenField(name: string): Promise<void> {
    return this.#exclusive(() => this.#widenField(name))
  }

  async #widenField(name: string): Promise<void> {
    const i = this.#fields.findIndex((f) => f.name === name)
    if (i < 0 || this.#fields[i]!.kind !== 'int') throw new Error(`${name} is not an integer field`)
    this.#dropAppender()
    await this.#write.run(`ALTER TABLE readings ALTER ${fieldColumn(name)} TYPE DOUBLE`)
    await this.#write.run("UPDATE fields SET kind = 'float' WHERE name = $1", [name])
    this.#fields[i] = { name, kind: 'float' }
  }

  /**
   * One group commit: new field columns, readings and dead letters in one
   * transaction. Resolves once DuckDB has committed, which fsyncs its WAL.
   */
  commit(
    readings: readonly Reading[],
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void> {
    return this.commitColumns(packReadings(readings), deadLetters, newFields)
  }

  /** commit() for readings already in columns (see reading-columns.ts). */
  commitColumns(
    readings: ReadingColumns,
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void> {
    return this.#exclusive(() => this.#commit(readings, deadLetters, newFields))
  }

  async #commit(
    readings: ReadingColumns,
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void> {
    if (this.#closed) throw new Error('store is closed')
    const lastStoredTs = this.#lastStoredTs
    try {
      return await this.#commitBatch(readings, deadLetters, newFields)
    } catch (err) {
      this.#lastStoredTs = lastStoredTs
      throw err
    }
  }

  async #commitBatch(
    readings: ReadingColumns,
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void> {
    // The common case, readings alone: a standing appender whose flush is its
    // own committed (and fsynced) transaction. No BEGIN or COMMIT round trips
    // and no appender to create, which is most of a small commit's cost.
    if (newFields.length === 0 && deadLetters.length === 0) {
      this.#appender ??= await this.#write.createAppender('readings')
      try {
        this.#appendChunks(this.#appender, readings, this.#fields)
        this.#appender.flushSync()
      } catch (err) {
        // DuckDB discards a failed flush's rows; the appender is not reused.
        this.#dropAppender()
        throw err
      }
      return
    }
    this.#dropAppender()
    const w = this.#write
    await w.run('BEGIN TRANSACTION')
    const added: StoredField[] = []
    try {
      for (const field of newFields) {
        await w.run(`ALTER TABLE readings ADD COLUMN ${fieldColumn(field.name)} ${SQL_TYPE[field.kind]}`)
        await w.run('INSERT INTO fields VALUES ($1, $2, $3)', [
          field.name,
          field.kind,
          BigInt(Date.now()) * 1_000_000n,
        ])
        added.push(field)
      }
      const fields = [...this.#fields, ...added]
      if (readings.length > 0) {
        const appender = await w.createAppender('readings')
        try {
          this.#appendChunks(appender, readings, fields)
          appender.flushSync()
        } finally {
          appender.closeSync()
        }
      }
      if (deadLetters.length > 0) await this.#appendDeadLetters(deadLetters)
      await w.run('COMMIT')
    } catch (err) {
      await w.run('ROLLBACK').catch(() => undefined)
      this.#nextDeadLetterId -= BigInt(deadLetters.length)
      throw err
    }
    this.#fields.push(...added)
  }

  /** Appends the batch as data chunks; the caller flushes. */
  #appendChunks(appender: DuckDBAppender, cols: ReadingColumns, fields: readonly StoredField[]): void {
    const types = [...FIXED_COLUMNS.map(([, , t]) => t), ...fields.map((f) => CHUNK_TYPE[f.kind])]
    // Commit time, one ns apart per reading: unique and increasing even when the clock steps back.
    const now = BigInt(Date.now()) * 1_000_000n
    const firstStoredTs = now > this.#lastStoredTs ? now : this.#lastStoredTs + 1n
    this.#lastStoredTs = firstStoredTs + BigInt(cols.length) - 1n
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

  #dropAppender(): void {
    const appender = this.#appender
    this.#appender = null
    try {
      appender?.closeSync()
    } catch {
      // Already failed; nothing of it is kept.
    }
  }

  async #appendDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    const appender = await this.#write.createAppender('dead_letters')
    try {
      for (const l of letters) {
        appender.appendUBigInt(this.#nextDeadLetterId++)
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
      appender.flushSync()
    } finally {
      appender.closeSync()
    }
  }

  /** Every run of consecutive seqs stored per (device, boot): what dedupe must know at start-up. */
  async *seqRuns(): AsyncGenerator<SeqRun> {
    const result = await this.#read.stream(`
      SELECT device, boot, min(seq) AS lo, max(seq) AS hi FROM (
        SELECT device, boot, seq, seq - dense_rank() OVER (PARTITION BY device, boot ORDER BY seq) AS run
        FROM readings WHERE idx = 0)
      GROUP BY device, boot, run`)
    for await (const rows of result.yieldRowsJs()) {
      for (const [device, boot, lo, hi] of rows as [string, bigint, bigint, bigint][]) {
        yield { device, boot: Number(boot), lo: Number(lo), hi: Number(hi) }
      }
    }
  }

  /** The newest event time of every device, for the bridge's newest_ts. */
  async newestTimes(): Promise<Array<[string, bigint]>> {
    const r = await this.#read.runAndReadAll('SELECT device, max(newest_ts) FROM readings GROUP BY device')
    return r.getRowsJS() as Array<[string, bigint]>
  }

  /** CRC of a stored message, to tell a redelivery from a conflicting reuse of its seq. */
  async storedCrc(device: string, boot: number, seq: number): Promise<number | null> {
    const r = await this.#read.runAndReadAll(
      'SELECT crc FROM readings WHERE device = $1 AND boot = $2 AND seq = $3 AND idx = 0 LIMIT 1',
      [device, BigInt(boot), BigInt(seq)],
    )
    const v = r.getRowsJS()[0]?.[0]
    return v === undefined ? null : Number(v)
  }

  /** Stored readings in event-time order, streamed in chunks for bounded memory. */
  async *readings(q: ReadingQuery): AsyncGenerator<ReadingRow[]> {
    const fields = this.#selectedFields(q)
    const result = await this.#read.stream(this.#readingsSql(q, fields, false))
    for await (const rows of result.yieldRowsJs()) yield rows.map((row) => readingRow(row, fields))
  }

  /** Up to `limit` readings stored after storedTs as InfluxDB lines: the forwarder's next batch. */
  async linesAfter(
    storedTs: bigint,
    limit: number,
    options: LineOptions,
    untilStoredTs: bigint | null = null,
  ): Promise<LineBatch | null> {
    const r = await this.#read.runAndReadAll(linesSql(this.#fields, options, storedTs, limit, untilStoredTs))
    const [body, count, first, last] = r.getRowsJS()[0] as [
      string | null,
      bigint,
      bigint | null,
      bigint | null,
    ]
    if (body === null || first === null || last === null) return null
    return { body, count: Number(count), firstStoredTs: first, lastStoredTs: last }
  }

  /** How many readings were stored after storedTs. */
  async backlog(storedTs: bigint): Promise<number> {
    const r = await this.#read.runAndReadAll(`SELECT count(*) FROM readings WHERE stored_ts > ${storedTs}`)
    return Number(r.getRowsJS()[0]?.[0] ?? 0)
  }

  /** A durable position (the forwarder's), 0 when never saved. */
  async checkpoint(name: string): Promise<bigint> {
    const r = await this.#read.runAndReadAll(
      `SELECT stored_ts FROM checkpoints WHERE name = ${sqlString(name)}`,
    )
    return (r.getRowsJS()[0]?.[0] as bigint | undefined) ?? 0n
  }

  saveCheckpoint(name: string, storedTs: bigint): Promise<void> {
    return this.#exclusive(() =>
      this.#write.run(`INSERT OR REPLACE INTO checkpoints VALUES (${sqlString(name)}, ${storedTs})`),
    ).then(() => undefined)
  }

  #selectedFields(q: ReadingQuery): StoredField[] {
    return q.fields === null ? this.#fields : this.#fields.filter((f) => q.fields!.includes(f.name))
  }

  /** The readings query; for Parquet, times are TIMESTAMP_NS and field columns go by the field's name. */
  #readingsSql(q: ReadingQuery, fields: readonly StoredField[], parquet: boolean): string {
    const time = (c: string) => (parquet ? `make_timestamp_ns(${c}) AS ${c}` : c)
    const columns = READING_COLUMNS.map((c) => (c.endsWith('ts') ? time(c) : c))
    for (const f of fields)
      columns.push(
        parquet ? `${fieldColumn(f.name)} AS "${f.name.replaceAll('"', '""')}"` : fieldColumn(f.name),
      )
    // `device IN ('a', 'b')` rather than a list: DuckDB pushes it into the scan.
    return `SELECT ${columns.join(', ')} FROM readings
      WHERE device IN (${q.devices.map(sqlString).join(', ')}) AND ts >= ${q.fromNs} AND ts < ${q.toNs}
      ORDER BY ts, device, boot, seq, idx LIMIT ${Math.trunc(q.limit)}`
  }

  /** Feature windows over stored readings (src/store/window-sql.ts), in chunks. */
  async *windows(q: WindowQuery): AsyncGenerator<WindowRow[]> {
    const result = await this.#read.stream(windowsSql(q, this.#storedFieldNames()))
    for await (const rows of result.yieldRowsJs()) {
      yield rows.map((row) => ({
        device: row[0] as string,
        windowEndNs: row[1] as bigint,
        values: row.slice(2).map((v) => (v === null ? null : Number(v))),
      }))
    }
  }

  #storedFieldNames(): Set<string> {
    return new Set(this.#fields.map((f) => f.name))
  }

  /** Writes a query's rows to a new Parquet file in the exports directory. */
  async exportParquet(request: ParquetExport): Promise<{ path: string; rows: number }> {
    let sql: string
    if (request.kind === 'readings')
      sql = this.#readingsSql(request.query, this.#selectedFields(request.query), true)
    else {
      const columns = windowColumns(request.query.features).map((c) => `"${c}"`)
      sql = `SELECT device, make_timestamp_ns(window_end) AS window_end, ${columns.join(', ')}
        FROM (${windowsSql(request.query, this.#storedFieldNames())})`
    }
    const path = join(this.#exportsDir, `${randomUUID()}.parquet`)
    try {
      const r = await this.#read.runAndReadAll(
        `COPY (${sql}) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`,
      )
      return { path, rows: Number(r.getRowsJS()[0]?.[0] ?? 0) }
    } catch (err) {
      rmSync(path, { force: true })
      throw err
    }
  }

  /**
   * Dead letters without their payloads first, then the payloads of the rows
   * that fit in q.payloadBytes: a page of 10,000 letters of 200 KB each once
   * took 2.9 GB to answer and, eight at a time, the whole heap (issue 21).
   */
  async deadLetters(q: DeadLetterQuery): Promise<DeadLetterRow[]> {
    const where = ['id > $1']
    const values: DuckDBValue[] = [q.afterId]
    if (q.device !== null) where.push(`device = $${values.push(q.device)}`)
    if (q.reason !== null) where.push(`reason = $${values.push(q.reason)}`)
    if (q.ids !== null) where.push(`list_contains($${values.push(listValue([...q.ids]))}::UBIGINT[], id)`)
    if (!q.includeReplayed) where.push("(replay_result IS NULL OR replay_result <> 'accepted')")
    const r = await this.#read.runAndReadAll(
      `SELECT id, recv_ts, device, topic, reason, detail, octet_length(payload), replayed_at, replay_result
       FROM dead_letters WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${Math.trunc(q.limit)}`,
      values,
    )
    let rows = (r.getRowsJS() as unknown[][]).map((row) => ({
      id: row[0] as bigint,
      recvTsNs: row[1] as bigint,
      device: row[2] as string | null,
      topic: row[3] as string,
      reason: row[4] as string,
      detail: row[5] as string,
      payload: null as Uint8Array | null,
      payloadSize: Number(row[6]),
      replayedAtNs: row[7] as bigint | null,
      replayResult: row[8] as string | null,
    }))
    if (q.payloadBytes <= 0 || rows.length === 0) return rows
    let bytes = 0
    let fit = 0
    while (fit < rows.length && (fit === 0 || bytes + rows[fit]!.payloadSize <= q.payloadBytes))
      bytes += rows[fit++]!.payloadSize
    rows = rows.slice(0, fit)
    const payloads = await this.#read.runAndReadAll(
      'SELECT id, payload FROM dead_letters WHERE list_contains($1::UBIGINT[], id)',
      [listValue(rows.map((row) => row.id))],
    )
    const byId = new Map(
      (payloads.getRowsJS() as unknown[][]).map((row) => [row[0] as bigint, row[1] as Uint8Array]),
    )
    for (const row of rows) row.payload = byId.get(row.id) ?? null
    return rows
  }

  markReplayed(id: bigint, result: string): Promise<void> {
    return this.#exclusive(() => this.#markReplayed(id, result))
  }

  async #markReplayed(id: bigint, result: string): Promise<void> {
    await this.#write.run('UPDATE dead_letters SET replayed_at = $1, replay_result = $2 WHERE id = $3', [
      BigInt(Date.now()) * 1_000_000n,
      result,
      id,
    ])
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(operation, operation)
    this.#writes = run.catch(() => undefined)
    return run
  }

  async memory(): Promise<StoreMemory> {
    const reader = await this.#read.runAndReadAll(
      "SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT, current_setting('memory_limit') FROM duckdb_memory()",
    )
    const [used, limit] = reader.getRows()[0] as [bigint, string]
    return { usedBytes: Number(used), limitBytes: parseDuckDBSize(limit) }
  }

  /** A cheap query proving the store answers: for /readyz. */
  async ping(): Promise<void> {
    await this.#read.run('SELECT 1')
  }

  async close(): Promise<void> {
    await this.#writes
    if (this.#closed) return
    this.#closed = true
    this.#dropAppender()
    this.#write.closeSync()
    this.#read.closeSync()
    this.#instance.closeSync()
  }
}

const SIZE_UNITS: Record<string, number> = {
  bytes: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
}

/** A size as DuckDB prints a setting, such as "953.6 MiB", in bytes (to its 0.1 of a unit). */
function parseDuckDBSize(text: string): number {
  const match = /^([\d.]+) ?(bytes|KiB|MiB|GiB|TiB)$/.exec(text)
  if (match === null) throw new Error(`not a DuckDB size: ${JSON.stringify(text)}`)
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]!]!)
}

/** A result row of READING_COLUMNS then the field columns, as the API's ReadingRow. */
function readingRow(row: unknown[], fields: readonly StoredField[]): ReadingRow {
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

/**
 * The store's reads, on their own connection: they see committed data only
 * and never wait behind a write. DuckDBStore adds the writes.
 */

import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { deadLetterChunks, queryDeadLetters } from './dead-letter-sql.js'
import { type LineOptions, linesSql } from './line-sql.js'
import { storeMemory } from './open.js'
import type { QueryGate } from './query-gate.js'
import {
  parquetCopySql,
  readingPage,
  readingRows,
  readingsSql,
  selectedFields,
  windowRow,
} from './reading-sql.js'
import { type FieldRef, READINGS, sqlString } from './schema.js'
import type {
  DeadLetterQuery,
  DeadLetterRow,
  LineBatch,
  ParquetExport,
  ReadingPage,
  ReadingQuery,
  ReadingRow,
  SeqRun,
  StoredField,
  StoreMemory,
  WindowRow,
} from './store.js'
import { type WindowQuery, windowsSql } from './window-sql.js'

export class StoreReads {
  readonly #read: DuckDBConnection
  readonly #queries: QueryGate
  /** The writer's fields in id order, without and with their ids: read as they grow. */
  readonly #fields: readonly StoredField[]
  readonly #refs: readonly FieldRef[]
  /** Parquet files being written or served; emptied at open. */
  readonly #exportsDir: string

  constructor(
    read: DuckDBConnection,
    queries: QueryGate,
    fields: readonly StoredField[],
    refs: readonly FieldRef[],
    exportsDir: string,
  ) {
    this.#read = read
    this.#queries = queries
    this.#fields = fields
    this.#refs = refs
    this.#exportsDir = exportsDir
  }

  /** The fields the store holds, in id order. */
  storedFields(): readonly StoredField[] {
    return this.#fields
  }

  /** Every run of consecutive seqs stored per (device, boot): what dedupe must know at start-up. */
  async *seqRuns(): AsyncGenerator<SeqRun> {
    const result = await this.#read.stream(`
      SELECT device, boot, min(seq) AS lo, max(seq) AS hi FROM (
        SELECT device, boot, seq, seq - dense_rank() OVER (PARTITION BY device, boot ORDER BY seq) AS run
        FROM ${READINGS} WHERE idx = 0)
      GROUP BY device, boot, run`)
    for await (const rows of result.yieldRowsJs()) {
      for (const [device, boot, lo, hi] of rows as [string, bigint, bigint, bigint][]) {
        yield { device, boot: Number(boot), lo: Number(lo), hi: Number(hi) }
      }
    }
  }

  /** The newest event time of every device, for the bridge's newest_ts. */
  async newestTimes(): Promise<Array<[string, bigint]>> {
    const r = await this.#read.runAndReadAll(`SELECT device, max(newest_ts) FROM ${READINGS} GROUP BY device`)
    return r.getRowsJS() as Array<[string, bigint]>
  }

  /** CRC of a stored message, to tell a redelivery from a conflicting reuse of its seq. */
  async storedCrc(device: string, boot: number, seq: number): Promise<number | null> {
    const r = await this.#read.runAndReadAll(
      `SELECT crc FROM ${READINGS} WHERE device = $1 AND boot = $2 AND seq = $3 AND idx = 0 LIMIT 1`,
      [device, BigInt(boot), BigInt(seq)],
    )
    const v = r.getRowsJS()[0]?.[0]
    return v === undefined ? null : Number(v)
  }

  /** Stored readings in the order of reading-key.ts, streamed in chunks for bounded memory. */
  async *readings(q: ReadingQuery, signal?: AbortSignal): AsyncGenerator<ReadingRow[]> {
    const fields = selectedFields(q, this.#refs)
    const readingRow = readingRows(fields)
    for await (const rows of this.#stream(readingsSql(READINGS, q, fields), signal))
      yield rows.map(readingRow)
  }

  /** Where a page of q ends, and its snapshot (reading-sql.ts): admitted like the page's own query. */
  async readingPage(q: ReadingQuery, signal?: AbortSignal): Promise<ReadingPage> {
    const query = await this.#queries.admit(signal)
    try {
      return await readingPage(query.connection, READINGS, q)
    } catch (err) {
      return query.rethrow(err)
    } finally {
      query.done()
    }
  }

  /** A history query's rows, admitted by the gate, on a connection of its own. */
  async *#stream(sql: string, signal: AbortSignal | undefined): AsyncGenerator<unknown[][]> {
    const query = await this.#queries.admit(signal)
    try {
      const result = await query.connection.stream(sql)
      for await (const rows of result.yieldRowsJs()) yield rows
    } catch (err) {
      return query.rethrow(err)
    } finally {
      query.done()
    }
  }

  /** Up to `limit` readings stored after storedTs as InfluxDB lines: the forwarder's next batch. */
  async linesAfter(
    storedTs: bigint,
    limit: number,
    options: LineOptions,
    untilStoredTs: bigint | null = null,
  ): Promise<LineBatch | null> {
    const r = await this.#read.runAndReadAll(linesSql(options, storedTs, limit, untilStoredTs))
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
    const r = await this.#read.runAndReadAll(`SELECT count(*) FROM ${READINGS} WHERE stored_ts > ${storedTs}`)
    return Number(r.getRowsJS()[0]?.[0] ?? 0)
  }

  /** A durable position (the forwarder's), 0 when never saved. */
  async checkpoint(name: string): Promise<bigint> {
    const r = await this.#read.runAndReadAll(
      `SELECT stored_ts FROM checkpoints WHERE name = ${sqlString(name)}`,
    )
    return (r.getRowsJS()[0]?.[0] as bigint | undefined) ?? 0n
  }

  /** Feature windows over stored readings (src/store/window-sql.ts), in chunks. */
  async *windows(q: WindowQuery, signal?: AbortSignal): AsyncGenerator<WindowRow[]> {
    for await (const rows of this.#stream(windowsSql(q, this.#refs), signal)) yield rows.map(windowRow)
  }

  /** Writes a query's rows to a new Parquet file in the exports directory. */
  async exportParquet(request: ParquetExport, signal?: AbortSignal): Promise<{ path: string; rows: number }> {
    const path = join(this.#exportsDir, `${randomUUID()}.parquet`)
    const query = await this.#queries.admit(signal)
    try {
      const r = await query.connection.runAndReadAll(parquetCopySql(READINGS, request, this.#refs, path))
      return { path, rows: Number(r.getRowsJS()[0]?.[0] ?? 0) }
    } catch (err) {
      rmSync(path, { force: true })
      return query.rethrow(err)
    } finally {
      query.done()
    }
  }

  /** Payload bytes the stored dead letters hold. */
  async deadLetterBytes(): Promise<number> {
    const r = await this.#read.runAndReadAll(
      'SELECT coalesce(sum(octet_length(payload)), 0)::BIGINT FROM dead_letters',
    )
    return Number(r.getRowsJS()[0]?.[0] ?? 0)
  }

  /** Dead letters, their payloads only as far as q.payloadBytes allows (dead-letter-sql.ts). */
  deadLetters(q: DeadLetterQuery): Promise<DeadLetterRow[]> {
    return queryDeadLetters(this.#read, q)
  }

  /** A dead-letter listing in chunks, admitted by the gate like a history query (dead-letter-sql.ts). */
  async *deadLetterRows(q: DeadLetterQuery, signal?: AbortSignal): AsyncGenerator<DeadLetterRow[]> {
    const query = await this.#queries.admit(signal)
    try {
      yield* deadLetterChunks(query.connection, q, signal)
    } catch (err) {
      return query.rethrow(err)
    } finally {
      query.done()
    }
  }

  memory(): Promise<StoreMemory> {
    return storeMemory(this.#read)
  }

  /** A cheap query proving the store answers: for /readyz. */
  async ping(): Promise<void> {
    await this.#read.run('SELECT 1')
  }

  protected closeReads(): void {
    this.#read.closeSync()
  }
}

/**
 * The embedded store: one DuckDB database file in the data directory.
 *
 * It runs in the store's worker thread (worker-store.ts), so its synchronous
 * calls never stall the event loop. Writes go through one connection, one at a
 * time: a batch is appended as columnar data chunks and made durable by one
 * commit, which writes and fsyncs DuckDB's WAL. A readings-only batch is the
 * flush of a standing appender (its own transaction); a batch with dead
 * letters or new field names is one explicit transaction, in which the same
 * appender takes part. Reads use a second connection and see committed data
 * only.
 *
 * The tables and columns are in schema.ts; opening a file in open.ts and
 * migrate-wide.ts; appending in append.ts; the queries in reading-sql.ts,
 * window-sql.ts; retention's deletes in retention-sql.ts.
 */

import type { DuckDBAppender, DuckDBConnection, DuckDBDataChunk, DuckDBInstance } from '@duckdb/node-api'
import { InvalidParameterError, StoreUnavailableError } from '../core/errors.js'
import type { DeadLetter, Reading } from '../core/telemetry.js'
import { appendDeadLetters, appendReadings, readingsChunk } from './append.js'
import type { Catalog } from './catalog.js'
import { saveCatalog } from './catalog-sql.js'
import { type Database, openDatabase } from './open.js'
import { DEFAULT_QUERY_LIMITS, QueryGate, type QueryLimits } from './query-gate.js'
import { packReadings, type ReadingColumns } from './reading-columns.js'
import { StoreReads } from './reads.js'
import { deleteReadings, deleteSlice, type RetainedTable } from './retention-sql.js'
import { FIELDS, type FieldRef, READINGS, sqlString } from './schema.js'
import type {
  DevicePage,
  DeviceQuery,
  EventSpan,
  FieldUse,
  Store,
  StoredField,
  StoreOptions,
} from './store.js'
import { DEFAULT_STORE_MEMORY_MB } from './store.js'

export class DuckDBStore extends StoreReads implements Store {
  readonly #instance: DuckDBInstance
  readonly #write: DuckDBConnection
  /** The stored fields in id order, as storedFields() answers them. */
  readonly #fields: StoredField[]
  /** The same fields with their ids, as the queries take them (shared with StoreReads). */
  readonly #refs: FieldRef[]
  /** Each field's id by name. */
  readonly #ids: Map<string, number>
  /** What exists, updated after each commit and saved now and then (catalog.ts). */
  readonly #catalog: Catalog
  /** The chunk every commit's readings go through (append.ts). */
  readonly #chunk: DuckDBDataChunk = readingsChunk()
  #nextDeadLetterId = 1n
  /** The stored_ts of the last reading committed. */
  #lastStoredTs = 0n
  /** The standing appender of every commit (see #commitBatch). */
  #appender: DuckDBAppender | null = null
  #closed = false
  /** Operations on the write connection, one at a time: a transaction must not take in another's statements. */
  #writes: Promise<unknown> = Promise.resolve()

  private constructor(db: Database, queries: QueryLimits) {
    const refs = [...db.opened.fields]
    const fields = refs.map(({ name, kind }) => ({ name, kind }))
    super(db.read, new QueryGate(db.connect, queries), fields, refs, db.exportsDir)
    this.#fields = fields
    this.#refs = refs
    this.#ids = new Map(refs.map((f) => [f.name, f.id]))
    this.#instance = db.instance
    this.#write = db.write
    this.#nextDeadLetterId = db.opened.nextDeadLetterId
    this.#lastStoredTs = db.opened.lastStoredTs
    this.#catalog = db.opened.catalog
  }

  static async open(
    dataDir: string,
    options: StoreOptions = { memoryMb: DEFAULT_STORE_MEMORY_MB },
  ): Promise<DuckDBStore> {
    const db = await openDatabase(dataDir, options)
    if (options.catalogSaveReadings !== undefined) db.opened.catalog.saveEvery = options.catalogSaveReadings
    return new DuckDBStore(db, options.queries ?? DEFAULT_QUERY_LIMITS)
  }

  /**
   * Widens an integer field to float (a configuration change): a row of
   * `fields` changes, no reading is rewritten. Its older values stay in the
   * map's `i` and are read as DOUBLE (schema.ts, fieldValueSql).
   */
  widenField(name: string): Promise<void> {
    return this.#exclusive(() => this.#widenField(name))
  }

  async #widenField(name: string): Promise<void> {
    const i = this.#fields.findIndex((f) => f.name === name)
    if (i < 0 || this.#fields[i]!.kind !== 'int')
      throw new InvalidParameterError('field', `${name} is not an integer field`)
    await this.#write.run(`UPDATE ${FIELDS} SET kind = 'float' WHERE name = $1`, [name])
    this.#fields[i] = { name, kind: 'float' }
    this.#refs[i] = { ...this.#refs[i]!, kind: 'float' }
  }

  /**
   * One group commit: new field names, readings and dead letters in one
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
    if (this.#closed) throw new StoreUnavailableError('the store is closed')
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
    // One standing appender: its flush alone is a committed (and fsynced)
    // transaction, the common case, with no BEGIN or COMMIT round trips and
    // no appender to create, which is most of a small commit's cost. Made
    // before a BEGIN, it takes part in that transaction: a rollback removes
    // its rows.
    this.#appender ??= await this.#write.createAppender(READINGS)
    const appender = this.#appender
    if (newFields.length === 0 && deadLetters.length === 0) {
      let idOf: readonly number[]
      try {
        idOf = appendReadings(appender, this.#chunk, readings, this.#ids, this.#nextStoredTs(readings.length))
        appender.flushSync()
      } catch (err) {
        // DuckDB discards a failed flush's rows; the appender is not reused.
        this.#dropAppender()
        throw err
      }
      return this.#catalogAdd(readings, idOf)
    }
    const w = this.#write
    const nextId = (this.#refs.at(-1)?.id ?? 0) + 1
    const added: FieldRef[] = newFields.map((f, k) => ({ id: nextId + k, name: f.name, kind: f.kind }))
    const addedNs = BigInt(Date.now()) * 1_000_000n
    let idOf: readonly number[] = []
    await w.run('BEGIN TRANSACTION')
    try {
      // A new name is a row, never a column (schema.ts).
      if (added.length > 0) {
        const rows = added.map((f) => `(${f.id}, ${sqlString(f.name)}, ${sqlString(f.kind)}, ${addedNs})`)
        await w.run(`INSERT INTO ${FIELDS} VALUES ${rows.join(', ')}`)
      }
      if (readings.length > 0) {
        const ids =
          added.length === 0
            ? this.#ids
            : new Map([...this.#ids, ...added.map((f) => [f.name, f.id] as const)])
        idOf = appendReadings(appender, this.#chunk, readings, ids, this.#nextStoredTs(readings.length))
        appender.flushSync()
      }
      if (deadLetters.length > 0) {
        const letters = await w.createAppender('dead_letters')
        try {
          appendDeadLetters(letters, deadLetters, this.#nextDeadLetterId)
          letters.flushSync()
        } finally {
          letters.closeSync()
        }
      }
      await w.run('COMMIT')
    } catch (err) {
      this.#dropAppender()
      await w.run('ROLLBACK').catch(() => undefined)
      throw err
    }
    this.#nextDeadLetterId += BigInt(deadLetters.length)
    for (const f of added) {
      this.#refs.push(f)
      this.#fields.push({ name: f.name, kind: f.kind })
      this.#ids.set(f.name, f.id)
    }
    this.#catalog.fieldsAdded(added.map((f) => [f.id, addedNs]))
    if (readings.length > 0) this.#catalogAdd(readings, idOf)
  }

  /** A committed batch into the catalog; when a save is due, one queued behind this commit. */
  #catalogAdd(readings: ReadingColumns, idOf: readonly number[]): void {
    this.#catalog.add(readings, idOf)
    if (!this.#catalog.due()) return
    // Not part of the commit: it is durable already. A save that fails is tried again at the next one.
    // The checkpoint is read when the save runs: commits queued before it are in the catalog by then.
    void this.#exclusive(() => saveCatalog(this.#write, this.#catalog, this.#lastStoredTs)).catch(
      () => undefined,
    )
  }

  async devices(q: DeviceQuery): Promise<DevicePage> {
    return this.#catalog.page(q, this.#refs)
  }

  async fieldUse(): Promise<FieldUse[]> {
    return this.#catalog.fieldUse(this.#refs)
  }

  async span(devices: readonly string[] | null): Promise<EventSpan | null> {
    return this.#catalog.span(devices)
  }

  /** The first stored_ts of a batch of n: commit time, one ns apart per reading, unique and increasing even when the clock steps back. */
  #nextStoredTs(n: number): bigint {
    const now = BigInt(Date.now()) * 1_000_000n
    const first = now > this.#lastStoredTs ? now : this.#lastStoredTs + 1n
    this.#lastStoredTs = first + BigInt(n) - 1n
    return first
  }

  #dropAppender(): void {
    const appender = this.#appender
    this.#appender = null
    try {
      // Rows appended but not flushed are dropped, never written by the close.
      appender?.clear()
      appender?.closeSync()
    } catch {
      // Already failed; nothing of it is kept.
    }
  }

  /** Moves the WAL into the database file now (DuckDB's CHECKPOINT): it fails while the disk is full. */
  async checkpointWal(): Promise<void> {
    await this.#exclusive(() => this.#write.run('CHECKPOINT'))
  }

  saveCheckpoint(name: string, storedTs: bigint): Promise<void> {
    return this.#exclusive(() =>
      this.#write.run(`INSERT OR REPLACE INTO checkpoints VALUES (${sqlString(name)}, ${storedTs})`),
    ).then(() => undefined)
  }

  /** One slice of retention: its own statement, so commits queued behind it go next (retention-sql.ts). */
  deleteOlderThan(table: RetainedTable, beforeNs: bigint, limit: number): Promise<number> {
    if (table !== READINGS) return this.#exclusive(() => deleteSlice(this.#write, table, beforeNs, limit))
    return this.#exclusive(() =>
      deleteReadings(this.#write, this.#catalog, beforeNs, limit, this.#lastStoredTs),
    )
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

  async close(): Promise<void> {
    await this.#writes
    if (this.#closed) return
    this.#closed = true
    this.#dropAppender()
    // What changed since the last save; if this fails, the next open counts it again from the readings.
    await saveCatalog(this.#write, this.#catalog, this.#lastStoredTs).catch(() => undefined)
    this.#write.closeSync()
    this.closeReads()
    this.#instance.closeSync()
  }
}

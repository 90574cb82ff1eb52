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
 * The tables and columns are in schema.ts; opening and migrating a file in
 * migrate.ts; appending a batch in append.ts; the history queries in
 * reading-sql.ts and window-sql.ts.
 */

import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { InvalidParameterError, StoreUnavailableError } from '../core/errors.js'
import type { DeadLetter, Reading } from '../core/telemetry.js'
import { appendDeadLetters, appendReadings } from './append.js'
import { addFieldSql, type Database, openDatabase } from './open.js'
import { DEFAULT_QUERY_LIMITS, QueryGate, type QueryLimits } from './query-gate.js'
import { packReadings, type ReadingColumns } from './reading-columns.js'
import { StoreReads } from './reads.js'
import { fieldColumn, READINGS, sqlString } from './schema.js'
import type { Store, StoredField, StoreOptions } from './store.js'
import { DEFAULT_STORE_MEMORY_MB } from './store.js'

export class DuckDBStore extends StoreReads implements Store {
  readonly #instance: DuckDBInstance
  readonly #write: DuckDBConnection
  /** Field columns in table order, after the fixed ones. */
  readonly #fields: StoredField[]
  #nextDeadLetterId = 1n
  /** The stored_ts of the last reading committed. */
  #lastStoredTs = 0n
  /** The standing appender of readings-only commits (see #commit). */
  #appender: DuckDBAppender | null = null
  #closed = false
  /** Operations on the write connection, one at a time: a transaction must not take in another's statements. */
  #writes: Promise<unknown> = Promise.resolve()

  private constructor(db: Database, queries: QueryLimits) {
    const fields = [...db.opened.fields]
    super(db.read, new QueryGate(db.connect, queries), fields, db.exportsDir)
    this.#fields = fields
    this.#instance = db.instance
    this.#write = db.write
    this.#nextDeadLetterId = db.opened.nextDeadLetterId
    this.#lastStoredTs = db.opened.lastStoredTs
  }

  static async open(
    dataDir: string,
    options: StoreOptions = { memoryMb: DEFAULT_STORE_MEMORY_MB },
  ): Promise<DuckDBStore> {
    return new DuckDBStore(await openDatabase(dataDir, options), options.queries ?? DEFAULT_QUERY_LIMITS)
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
    if (i < 0 || this.#fields[i]!.kind !== 'int')
      throw new InvalidParameterError('field', `${name} is not an integer field`)
    this.#dropAppender()
    await this.#write.run(`ALTER TABLE ${READINGS} ALTER ${fieldColumn(name)} TYPE DOUBLE`)
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
    // The common case, readings alone: a standing appender whose flush is its
    // own committed (and fsynced) transaction. No BEGIN or COMMIT round trips
    // and no appender to create, which is most of a small commit's cost.
    if (newFields.length === 0 && deadLetters.length === 0) {
      this.#appender ??= await this.#write.createAppender(READINGS)
      try {
        appendReadings(this.#appender, readings, this.#fields, this.#nextStoredTs(readings.length))
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
        await w.run(addFieldSql(field))
        await w.run('INSERT INTO fields VALUES ($1, $2, $3)', [
          field.name,
          field.kind,
          BigInt(Date.now()) * 1_000_000n,
        ])
        added.push(field)
      }
      const fields = [...this.#fields, ...added]
      if (readings.length > 0) {
        const appender = await w.createAppender(READINGS)
        try {
          appendReadings(appender, readings, fields, this.#nextStoredTs(readings.length))
          appender.flushSync()
        } finally {
          appender.closeSync()
        }
      }
      if (deadLetters.length > 0) {
        const appender = await w.createAppender('dead_letters')
        try {
          appendDeadLetters(appender, deadLetters, this.#nextDeadLetterId)
          appender.flushSync()
        } finally {
          appender.closeSync()
        }
      }
      await w.run('COMMIT')
    } catch (err) {
      await w.run('ROLLBACK').catch(() => undefined)
      throw err
    }
    this.#nextDeadLetterId += BigInt(deadLetters.length)
    this.#fields.push(...added)
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
    this.#write.closeSync()
    this.closeReads()
    this.#instance.closeSync()
  }
}

/**
 * What the rest of the system may ask of the store: one narrow interface per
 * consumer (the bridge's ingest log, the history routes, the InfluxDB
 * forwarder, the dead-letter routes, health), and Store, all of them.
 * DuckDBStore implements it on the calling thread; WorkerStore forwards it to
 * a DuckDBStore in a worker thread, which is what the app runs.
 */

import type { DeadLetter, FieldKind, Reading } from '../core/telemetry.js'
import type { LineOptions } from './line-sql.js'
import type { QueryLimits } from './query-gate.js'
import type { WindowQuery } from './window-sql.js'

export interface StoredField {
  readonly name: string
  readonly kind: FieldKind
}

/** A run of consecutive seqs stored for one (device, boot). */
export interface SeqRun {
  readonly device: string
  readonly boot: number
  readonly lo: number
  readonly hi: number
}

export interface ReadingQuery {
  readonly devices: readonly string[]
  readonly fromNs: bigint
  readonly toNs: bigint
  /** Field names to return; all when null. */
  readonly fields: readonly string[] | null
  readonly limit: number
}

/** One device's feature values for the windows ending at windowEndNs (see src/store/window-sql.ts). */
export interface WindowRow {
  readonly device: string
  readonly windowEndNs: bigint
  /** In windowColumns() order; null where the feature had no window ending here. */
  readonly values: Array<number | null>
}

/** Readings as one body of InfluxDB line protocol (src/store/line-sql.ts). */
export interface LineBatch {
  /** One line per reading, newline-separated, in stored order. */
  readonly body: string
  readonly count: number
  readonly firstStoredTs: bigint
  readonly lastStoredTs: bigint
}

/** What a Parquet export holds. */
export type ParquetExport =
  | { readonly kind: 'readings'; readonly query: ReadingQuery }
  | { readonly kind: 'windows'; readonly query: WindowQuery }

/** A stored reading as the API returns it. */
export interface ReadingRow {
  readonly device: string
  readonly boot: bigint
  readonly seq: bigint
  readonly idx: number
  readonly ts: bigint
  readonly device_ts: bigint | null
  readonly recv_ts: bigint
  readonly offset_ns: bigint
  /** When the reading was committed (unique, increasing): the order of the table. */
  readonly stored_ts: bigint
  /** The device's newest event time once this reading arrived. */
  readonly newest_ts: bigint
  readonly tags: string | null
  readonly fields: Record<string, number | bigint | boolean | null>
}

export interface DeadLetterQuery {
  readonly device: string | null
  readonly reason: string | null
  readonly ids: readonly bigint[] | null
  readonly includeReplayed: boolean
  readonly limit: number
  /** Only ids greater than this (keyset paging). */
  readonly afterId: bigint
  /**
   * Payload bytes to return: the rows stop before the one whose payload would
   * pass this (the first row always comes). 0: no payloads, only their sizes.
   */
  readonly payloadBytes: number
}

export interface DeadLetterRow extends Omit<DeadLetter, 'payload'> {
  readonly id: bigint
  /** null when the query asked for no payloads. */
  readonly payload: Uint8Array | null
  readonly payloadSize: number
  readonly replayedAtNs: bigint | null
  readonly replayResult: string | null
}

/**
 * What the database may hold in memory by default, MB (10^6 bytes): its
 * cache of the table's blocks and the state of the queries running. The
 * cache keeps what was written until the limit is reached (10,000
 * readings/s add ~23 MB a minute), so this is also where a long-running
 * store's memory levels off (docs/configuration.md).
 */
export const DEFAULT_STORE_MEMORY_MB = 1000

export interface StoreOptions {
  /** DuckDB's memory_limit, MB. */
  readonly memoryMb: number
  /** Admission and time limit of history queries (query-gate.ts); defaults when absent. */
  readonly queries?: QueryLimits
}

export interface StoreMemory {
  /** Held by the database: its cache of the table's blocks and running queries' state. */
  readonly usedBytes: number
  /** Past it, the cache gives way and a large query spills to disk. */
  readonly limitBytes: number
}

/** The bridge's: pinned fields, group commits, and what dedupe and the watermarks resume from. */
export interface IngestLog {
  /** The fields the store holds, in the order they were added (their ids). */
  storedFields(): readonly StoredField[]
  /** Widens an integer field to float (a configuration change). */
  widenField(name: string): Promise<void>
  /** One group commit: new field names, readings and dead letters in one durable transaction. */
  commit(
    readings: readonly Reading[],
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void>
  /** Every run of consecutive seqs stored per (device, boot). */
  seqRuns(): AsyncIterable<SeqRun>
  /** The newest event time stored per device: where the bridge's newest_ts resumes. */
  newestTimes(): Promise<Array<[string, bigint]>>
  /** CRC of a stored message, or null when there is none. */
  storedCrc(device: string, boot: number, seq: number): Promise<number | null>
  /** Payload bytes the stored dead letters hold. */
  deadLetterBytes(): Promise<number>
}

/** The history routes': the local store answers it, and so does InfluxDB history (src/influx/history.ts). */
export interface HistoryReader {
  storedFields(): readonly StoredField[]
  /**
   * Stored readings in event-time order, in chunks. `signal`: the caller went
   * away; the query is interrupted at once (a route's client that closed).
   */
  readings(q: ReadingQuery, signal?: AbortSignal): AsyncIterable<ReadingRow[]>
  /** Feature windows over stored readings, in (device, window end) order, in chunks. */
  windows(q: WindowQuery, signal?: AbortSignal): AsyncIterable<WindowRow[]>
  /**
   * Writes the rows to a new Parquet file under the data directory and
   * returns its path; the caller deletes it. DuckDB writes it as the query
   * runs, so memory stays bounded whatever the size.
   */
  exportParquet(request: ParquetExport, signal?: AbortSignal): Promise<{ path: string; rows: number }>
}

/** The InfluxDB forwarder's: the readings after a durable position, as line protocol. */
export interface ForwardLog {
  /** Up to `limit` readings stored after storedTs as InfluxDB lines, in stored order; null when there is none. */
  linesAfter(
    storedTs: bigint,
    limit: number,
    options: LineOptions,
    untilStoredTs?: bigint | null,
  ): Promise<LineBatch | null>
  /** How many readings were stored after storedTs. */
  backlog(storedTs: bigint): Promise<number>
  /** A durable position saved under a name; 0 when none was. */
  checkpoint(name: string): Promise<bigint>
  saveCheckpoint(name: string, storedTs: bigint): Promise<void>
  /** Commits dead letters (lines InfluxDB refused) the way the bridge does. */
  commit(
    readings: readonly Reading[],
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void>
}

/** The dead-letter routes' and replay's. */
export interface DeadLetterLog {
  deadLetters(q: DeadLetterQuery): Promise<DeadLetterRow[]>
  /**
   * The same letters in chunks (memory bounded by a chunk: dead-letter-sql.ts),
   * admitted and interrupted like the history queries (query-gate.ts). When
   * letters follow the page, one more row comes last, without its payload:
   * the page was cut there (past `limit`, or past `payloadBytes`).
   */
  deadLetterRows(q: DeadLetterQuery, signal?: AbortSignal): AsyncIterable<DeadLetterRow[]>
  markReplayed(id: bigint, result: string): Promise<void>
}

/** The app's: health and shutdown. */
export interface StoreHealth {
  /** What the database holds in memory now, and its limit (docs/configuration.md). */
  memory(): Promise<StoreMemory>
  /** Resolves when the store answers a query. */
  ping(): Promise<void>
  close(): Promise<void>
}

export interface Store extends IngestLog, HistoryReader, ForwardLog, DeadLetterLog, StoreHealth {}

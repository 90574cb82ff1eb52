/**
 * The worker thread that owns the DuckDB database (see worker-store.ts).
 * It answers one message per call; a thrown error travels back with its
 * class and fields (src/core/error-transfer.ts).
 *
 * A database DuckDB has invalidated (a checkpoint that failed on a full disk,
 * or for memory) refuses every statement until it is opened again. The
 * worker then answers StoreUnavailableError (nothing committed, so nothing
 * acknowledged), tells the event loop at once (`/readyz`), and reopens the
 * file by itself, retrying with backoff until it succeeds: the WAL gives
 * back every commit that was durable.
 */

import { parentPort, workerData } from 'node:worker_threads'
import { type ErrorRecord, errorRecord } from '../core/error-transfer.js'
import { StoreUnavailableError } from '../core/errors.js'
import type { DeadLetter } from '../core/telemetry.js'
import { DuckDBStore } from './duckdb-store.js'
import type { ReadingColumns } from './reading-columns.js'
import type { RetentionLog } from './retention-sql.js'
import type {
  DeadLetterQuery,
  ParquetExport,
  ReadingQuery,
  SeqRun,
  Store,
  StoredField,
  StoreOptions,
} from './store.js'
import type { WindowQuery } from './window-sql.js'

/** What the worker answers: the Store's calls, with iterables as cursors and readings as columns. */
export interface WorkerCalls
  extends Pick<
    Store & RetentionLog,
    | 'widenField'
    | 'newestTimes'
    | 'storedCrc'
    | 'deadLetterBytes'
    | 'deadLetters'
    | 'markReplayed'
    | 'deleteOlderThan'
    | 'memory'
    | 'ping'
    | 'linesAfter'
    | 'backlog'
    | 'checkpoint'
    | 'saveCheckpoint'
    | 'devices'
    | 'fieldUse'
    | 'span'
    | 'close'
  > {
  commit(
    readings: ReadingColumns,
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void>
  seqRuns(): Promise<SeqRun[]>
  /** exportParquet, abortable by `abort(query)`. */
  exportParquet(request: ParquetExport, query: number): ReturnType<Store['exportParquet']>
  /** readingPage, abortable by `abort(query)`. */
  readingPage(q: ReadingQuery, query: number): ReturnType<Store['readingPage']>
  abort(query: number): Promise<void>
  openCursor(request: CursorRequest): Promise<number>
  /** The cursor's next chunk of rows; null when it is done. */
  nextChunk(cursor: number): Promise<unknown[] | null>
  closeCursor(cursor: number): Promise<void>
}

export type CursorRequest =
  | { readonly kind: 'readings'; readonly query: ReadingQuery }
  | { readonly kind: 'windows'; readonly query: WindowQuery }
  | { readonly kind: 'deadLetters'; readonly query: DeadLetterQuery }

export type WorkerData = {
  readonly dataDir: string
  readonly options: StoreOptions | undefined
}
export type WorkerRequest = {
  [M in keyof WorkerCalls]: {
    readonly id: number
    readonly method: M
    readonly args: Parameters<WorkerCalls[M]>
  }
}[keyof WorkerCalls]
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: ErrorRecord }
  | {
      readonly id: 0
      readonly ok: true
      readonly ready: true
      readonly fields: ReturnType<Store['storedFields']>
    }
  | StoreEvent

/** Unasked: the database failed (problem says why), or was reopened (problem null, its fields). */
export type StoreEvent = {
  readonly id: -1
  readonly event: 'store'
  readonly problem: string | null
  readonly fields: ReturnType<Store['storedFields']> | null
}

/** DuckDB's words for a database it will not use again until it is reopened. */
const INVALIDATED = /has been invalidated|must be restarted|FATAL Error/i
const REOPEN_FIRST_MS = 250
const REOPEN_MAX_MS = 10_000

const port = parentPort!
const { dataDir, options } = workerData as WorkerData
let store: DuckDBStore | null = await DuckDBStore.open(dataDir, options).catch((err: unknown) => {
  port.postMessage({ id: 0, ok: false, error: errorRecord(err) } satisfies WorkerReply)
  return null
})
/** Why the database cannot be used now; null while it serves. */
let failure: string | null = null
/** What invalidated the database, while it is being reopened. */
let invalidatedBy = ''
let closed = false

function open(): DuckDBStore {
  if (store === null || failure !== null)
    throw new StoreUnavailableError(`the store failed and is being reopened: ${failure}`)
  return store
}

/** The database was invalidated: refuse everything, tell the event loop, reopen. */
async function fail(reason: string): Promise<void> {
  if (failure !== null) return
  failure = reason
  invalidatedBy = reason
  port.postMessage({ id: -1, event: 'store', problem: reason, fields: null } satisfies WorkerReply)
  const old = store
  store = null
  // The cursors' queries belonged to the old database: their next chunk is an error.
  for (const cursor of cursors.values()) cursor.abort.abort()
  cursors.clear()
  await old?.close().catch(() => undefined)
  reopen(REOPEN_FIRST_MS)
}

function reopen(delayMs: number): void {
  setTimeout(() => {
    if (closed) return
    // Ready only once a checkpoint succeeds: with the disk still full, the WAL it replayed cannot be written out.
    DuckDBStore.open(dataDir, options)
      .then(async (reopened) => {
        try {
          await reopened.checkpointWal()
          return reopened
        } catch (err) {
          await reopened.close().catch(() => undefined)
          throw err
        }
      })
      .then(
        (reopened) => {
          if (closed) return void reopened.close()
          store = reopened
          failure = null
          port.postMessage({
            id: -1,
            event: 'store',
            problem: null,
            fields: reopened.storedFields(),
          } satisfies WorkerReply)
        },
        (err: unknown) => {
          failure = `${invalidatedBy} (reopening failed: ${(err as Error).message})`
          port.postMessage({ id: -1, event: 'store', problem: failure, fields: null } satisfies WorkerReply)
          reopen(Math.min(delayMs * 2, REOPEN_MAX_MS))
        },
      )
  }, delayMs)
}

/**
 * Open readings and windows cursors, by id: the caller pulls one chunk at a
 * time, so memory stays bounded. Closing one aborts it, which interrupts its
 * query even while a chunk is being computed.
 */
const cursors = new Map<
  number,
  { readonly rows: AsyncIterator<unknown[]>; readonly abort: AbortController }
>()
let nextCursor = 1
/** History queries answered in one reply (Parquet exports, page ends) running, by the caller's id, to abort. */
const running = new Map<number, AbortController>()

async function abortable<T>(query: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController()
  running.set(query, abort)
  try {
    return await run(abort.signal)
  } finally {
    running.delete(query)
  }
}

const methods: WorkerCalls = {
  commit: (readings, deadLetters, newFields) => open().commitColumns(readings, deadLetters, newFields),
  widenField: (name) => open().widenField(name),
  newestTimes: () => open().newestTimes(),
  storedCrc: (device, boot, seq) => open().storedCrc(device, boot, seq),
  deadLetterBytes: () => open().deadLetterBytes(),
  deadLetters: (q) => open().deadLetters(q),
  markReplayed: (id, result) => open().markReplayed(id, result),
  deleteOlderThan: (table, beforeNs, limit) => open().deleteOlderThan(table, beforeNs, limit),
  memory: () => open().memory(),
  ping: () => open().ping(),
  async seqRuns() {
    const runs = []
    for await (const run of open().seqRuns()) runs.push(run)
    return runs
  },
  exportParquet: (request, query) => abortable(query, (signal) => open().exportParquet(request, signal)),
  readingPage: (q, query) => abortable(query, (signal) => open().readingPage(q, signal)),
  async abort(query) {
    running.get(query)?.abort()
  },
  linesAfter: (storedTs, limit, options, until) => open().linesAfter(storedTs, limit, options, until),
  backlog: (storedTs) => open().backlog(storedTs),
  checkpoint: (name) => open().checkpoint(name),
  saveCheckpoint: (name, storedTs) => open().saveCheckpoint(name, storedTs),
  devices: (q) => open().devices(q),
  fieldUse: () => open().fieldUse(),
  span: (devices) => open().span(devices),
  async openCursor(request) {
    const id = nextCursor++
    const abort = new AbortController()
    const rows =
      request.kind === 'readings'
        ? open().readings(request.query, abort.signal)
        : request.kind === 'windows'
          ? open().windows(request.query, abort.signal)
          : open().deadLetterRows(request.query, abort.signal)
    cursors.set(id, { rows: rows[Symbol.asyncIterator](), abort })
    return id
  },
  async nextChunk(id) {
    const cursor = cursors.get(id)
    // Gone with a database that failed: the rows so far are not the whole answer.
    if (cursor === undefined) throw new StoreUnavailableError('the query was cut short: the store failed')
    const next = await cursor.rows.next()
    if (next.done) cursors.delete(id)
    return next.done ? null : next.value
  },
  async closeCursor(id) {
    const cursor = cursors.get(id)
    cursors.delete(id)
    cursor?.abort.abort()
    await cursor?.rows.return?.()
  },
  async close() {
    closed = true
    for (const cursor of cursors.values()) cursor.abort.abort()
    cursors.clear()
    await store?.close()
  },
}

if (store !== null) {
  port.on('message', (request: WorkerRequest) => {
    const method = methods[request.method] as (...args: unknown[]) => Promise<unknown>
    const answer = (value: unknown) =>
      port.postMessage({ id: request.id, ok: true, value } satisfies WorkerReply)
    // A synchronous throw becomes a rejection too: every call is answered.
    Promise.resolve()
      .then(() => method.apply(methods, request.args))
      .then(answer, (err: unknown) => {
        const message = (err as Error).message ?? String(err)
        if (!INVALIDATED.test(message) || request.method === 'close')
          return port.postMessage({
            id: request.id,
            ok: false,
            error: errorRecord(err),
          } satisfies WorkerReply)
        // Refused even when DuckDB says the commit is durable and only the checkpoint after it failed:
        // readings so acknowledged were missing once the database was reopened (a full disk, measured).
        // The bridge looks up a resent seq whose commit failed before storing it again (dedupe.ts).
        void fail(message)
        const refused = new StoreUnavailableError(`the store failed and is being reopened: ${message}`)
        port.postMessage({ id: request.id, ok: false, error: errorRecord(refused) } satisfies WorkerReply)
      })
  })
  port.postMessage({ id: 0, ok: true, ready: true, fields: store.storedFields() } satisfies WorkerReply)
}

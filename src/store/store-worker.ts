/**
 * The worker thread that owns the DuckDB database (see worker-store.ts).
 * It answers one message per call; a thrown error travels back with its
 * class and fields (src/core/error-transfer.ts).
 */

import { parentPort, workerData } from 'node:worker_threads'
import { type ErrorRecord, errorRecord } from '../core/error-transfer.js'
import type { DeadLetter } from '../core/telemetry.js'
import { DuckDBStore } from './duckdb-store.js'
import type { ReadingColumns } from './reading-columns.js'
import type { ReadingQuery, SeqRun, Store, StoredField, StoreOptions } from './store.js'
import type { WindowQuery } from './window-sql.js'

/** What the worker answers: the Store's calls, with iterables as cursors and readings as columns. */
export interface WorkerCalls
  extends Pick<
    Store,
    | 'widenField'
    | 'newestTimes'
    | 'storedCrc'
    | 'deadLetters'
    | 'markReplayed'
    | 'memory'
    | 'ping'
    | 'exportParquet'
    | 'linesAfter'
    | 'backlog'
    | 'checkpoint'
    | 'saveCheckpoint'
    | 'close'
  > {
  commit(
    readings: ReadingColumns,
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void>
  seqRuns(): Promise<SeqRun[]>
  openCursor(request: CursorRequest): Promise<number>
  /** The cursor's next chunk of rows; null when it is done. */
  nextChunk(cursor: number): Promise<unknown[] | null>
  closeCursor(cursor: number): Promise<void>
}

export type CursorRequest =
  | { readonly kind: 'readings'; readonly query: ReadingQuery }
  | { readonly kind: 'windows'; readonly query: WindowQuery }

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

const port = parentPort!
const { dataDir, options } = workerData as WorkerData
const store = await DuckDBStore.open(dataDir, options).catch((err: unknown) => {
  port.postMessage({ id: 0, ok: false, error: errorRecord(err) } satisfies WorkerReply)
  return null
})

/** Open readings and windows cursors, by id: the caller pulls one chunk at a time, so memory stays bounded. */
const cursors = new Map<number, AsyncIterator<unknown[]>>()
let nextCursor = 1

const methods: WorkerCalls = {
  commit: (readings, deadLetters, newFields) => store!.commitColumns(readings, deadLetters, newFields),
  widenField: (name) => store!.widenField(name),
  newestTimes: () => store!.newestTimes(),
  storedCrc: (device, boot, seq) => store!.storedCrc(device, boot, seq),
  deadLetters: (q) => store!.deadLetters(q),
  markReplayed: (id, result) => store!.markReplayed(id, result),
  memory: () => store!.memory(),
  ping: () => store!.ping(),
  async seqRuns() {
    const runs = []
    for await (const run of store!.seqRuns()) runs.push(run)
    return runs
  },
  exportParquet: (request) => store!.exportParquet(request),
  linesAfter: (storedTs, limit, options, until) => store!.linesAfter(storedTs, limit, options, until),
  backlog: (storedTs) => store!.backlog(storedTs),
  checkpoint: (name) => store!.checkpoint(name),
  saveCheckpoint: (name, storedTs) => store!.saveCheckpoint(name, storedTs),
  async openCursor(request) {
    const id = nextCursor++
    const rows = request.kind === 'readings' ? store!.readings(request.query) : store!.windows(request.query)
    cursors.set(id, rows[Symbol.asyncIterator]())
    return id
  },
  async nextChunk(cursor) {
    const it = cursors.get(cursor)
    if (it === undefined) return null
    const next = await it.next()
    if (next.done) cursors.delete(cursor)
    return next.done ? null : next.value
  },
  async closeCursor(cursor) {
    await cursors.get(cursor)?.return?.()
    cursors.delete(cursor)
  },
  async close() {
    for (const it of cursors.values()) await it.return?.()
    cursors.clear()
    await store!.close()
  },
}

if (store !== null) {
  port.on('message', (request: WorkerRequest) => {
    const method = methods[request.method] as (...args: unknown[]) => Promise<unknown>
    // A synchronous throw becomes a rejection too: every call is answered.
    Promise.resolve()
      .then(() => method.apply(methods, request.args))
      .then(
        (value) => port.postMessage({ id: request.id, ok: true, value } satisfies WorkerReply),
        (err: unknown) =>
          port.postMessage({ id: request.id, ok: false, error: errorRecord(err) } satisfies WorkerReply),
      )
  })
  port.postMessage({ id: 0, ok: true, ready: true, fields: store.storedFields() } satisfies WorkerReply)
}

/**
 * The worker thread that owns the DuckDB database (see worker-store.ts).
 * It answers one message per call; a thrown error travels back as such.
 */

import { parentPort, workerData } from 'node:worker_threads'
import { DuckDBStore } from './duckdb-store.js'
import type { Store, StoreOptions } from './store.js'

export type WorkerData = {
  readonly dataDir: string
  readonly options: StoreOptions | undefined
}
export type WorkerRequest = {
  readonly id: number
  readonly method: string
  readonly args: readonly unknown[]
}
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly message: string }
  | {
      readonly id: 0
      readonly ok: true
      readonly ready: true
      readonly fields: ReturnType<Store['storedFields']>
    }

const port = parentPort!
const { dataDir, options } = workerData as WorkerData
const store = await DuckDBStore.open(dataDir, options).catch((err: unknown) => {
  port.postMessage({ id: 0, ok: false, message: (err as Error).message } satisfies WorkerReply)
  return null
})

/** Open readings and windows cursors, by id: the caller pulls one chunk at a time, so memory stays bounded. */
const cursors = new Map<number, AsyncIterator<unknown>>()
let nextCursor = 1

const methods: Record<string, (...args: never[]) => Promise<unknown>> = {
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
  async openCursor(kind: 'readings' | 'windows', q) {
    const id = nextCursor++
    const rows = kind === 'readings' ? store!.readings(q) : store!.windows(q)
    cursors.set(id, rows[Symbol.asyncIterator]())
    return id
  },
  async nextChunk(cursor: number) {
    const it = cursors.get(cursor)
    if (it === undefined) return null
    const next = await it.next()
    if (next.done) cursors.delete(cursor)
    return next.done ? null : next.value
  },
  async closeCursor(cursor: number) {
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
    const method = methods[request.method]
    const run =
      method === undefined
        ? Promise.reject(new Error(`no method ${request.method}`))
        : method(...(request.args as never[]))
    run.then(
      (value) => port.postMessage({ id: request.id, ok: true, value } satisfies WorkerReply),
      (err: unknown) =>
        port.postMessage({
          id: request.id,
          ok: false,
          message: (err as Error).message ?? String(err),
        } satisfies WorkerReply),
    )
  })
  port.postMessage({ id: 0, ok: true, ready: true, fields: store.storedFields() } satisfies WorkerReply)
}

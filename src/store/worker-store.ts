/**
 * The store as the app uses it: a DuckDBStore running in a worker thread.
 *
 * Why a thread: DuckDB's appender flush is synchronous and waits for the
 * fsync, and building a batch's data chunks is per-value work. On the event
 * loop that blocked every device for the length of each commit
 * (bench/RESULTS.md); in the worker it runs beside the event loop, on the
 * machine's other core.
 *
 *   event loop                         worker thread
 *   ──────────                         ─────────────
 *   commit(readings) ─ postMessage ──▶ append chunks; commit (WAL fsync)
 *        ▲                                      │
 *        └────────── reply ◀────────────────────┘
 *
 * Calls are answered in the order the worker finishes them; writes are
 * serialized inside DuckDBStore. If the worker dies, every call fails from
 * then on: nothing is acknowledged that was not committed.
 */

import { Worker } from 'node:worker_threads'
import type { DeadLetter, Reading } from '../core/telemetry.js'
import type { LineOptions } from './line-sql.js'
import { packReadings, transferables } from './reading-columns.js'
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
import type { WorkerData, WorkerReply, WorkerRequest } from './store-worker.js'
import type { WindowQuery } from './window-sql.js'

interface Pending {
  resolve(value: unknown): void
  reject(err: Error): void
}

export class WorkerStore implements Store {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #fields: StoredField[]
  #nextId = 1
  #failure: Error | null = null

  private constructor(worker: Worker, fields: StoredField[]) {
    this.#worker = worker
    this.#fields = fields
    worker.on('message', (reply: WorkerReply) => {
      const pending = this.#pending.get(reply.id)
      if (pending === undefined) return
      this.#pending.delete(reply.id)
      if (reply.ok) pending.resolve('value' in reply ? reply.value : undefined)
      else pending.reject(new Error(reply.message))
    })
    const fail = (err: Error): void => {
      this.#failure ??= err
      for (const p of this.#pending.values()) p.reject(err)
      this.#pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`store worker exited with code ${code}`)))
  }

  static async open(dataDir: string, options?: StoreOptions): Promise<WorkerStore> {
    // The .js sibling of this module: dist/src/store/store-worker.js when built,
    // store-worker.ts through the TypeScript loader in tests.
    const worker = new Worker(new URL('./store-worker.js', import.meta.url), {
      workerData: { dataDir, options } satisfies WorkerData,
    })
    const fields = await new Promise<StoredField[]>((resolve, reject) => {
      const onMessage = (reply: WorkerReply): void => {
        if (reply.id !== 0) return
        worker.off('message', onMessage)
        if (reply.ok && 'ready' in reply) resolve([...reply.fields])
        else reject(new Error(`store did not open: ${reply.ok ? 'unexpected reply' : reply.message}`))
      }
      worker.on('message', onMessage)
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`store worker exited with code ${code}`)))
    })
    worker.removeAllListeners('error')
    worker.removeAllListeners('exit')
    return new WorkerStore(worker, fields)
  }

  #call<T>(method: string, ...args: unknown[]): Promise<T> {
    return this.#send(method, args, [])
  }

  #send<T>(method: string, args: unknown[], transfer: ArrayBuffer[]): Promise<T> {
    if (this.#failure !== null) return Promise.reject(this.#failure)
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.#worker.postMessage({ id, method, args } satisfies WorkerRequest, transfer)
    })
  }

  storedFields(): readonly StoredField[] {
    return this.#fields
  }

  async widenField(name: string): Promise<void> {
    await this.#call('widenField', name)
    this.#fields = this.#fields.map((f) => (f.name === name ? { name, kind: 'float' } : f))
  }

  async commit(
    readings: readonly Reading[],
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void> {
    const columns = packReadings(readings)
    const fields = newFields.map((f) => ({ name: f.name, kind: f.kind }))
    await this.#send('commit', [columns, deadLetters, fields], transferables(columns))
    if (fields.length > 0) this.#fields = [...this.#fields, ...fields]
  }

  async *seqRuns(): AsyncGenerator<SeqRun> {
    yield* await this.#call<SeqRun[]>('seqRuns')
  }

  newestTimes(): Promise<Array<[string, bigint]>> {
    return this.#call('newestTimes')
  }

  storedCrc(device: string, boot: number, seq: number): Promise<number | null> {
    return this.#call('storedCrc', device, boot, seq)
  }

  readings(q: ReadingQuery): AsyncGenerator<ReadingRow[]> {
    return this.#cursor('readings', q)
  }

  windows(q: WindowQuery): AsyncGenerator<WindowRow[]> {
    return this.#cursor('windows', q)
  }

  /** A query's rows, one chunk per call: memory stays bounded on both threads. */
  async *#cursor<Row>(kind: 'readings' | 'windows', q: ReadingQuery | WindowQuery): AsyncGenerator<Row[]> {
    const cursor = await this.#call<number>('openCursor', kind, q)
    let done = false
    try {
      for (;;) {
        const rows = await this.#call<Row[] | null>('nextChunk', cursor)
        if (rows === null) {
          done = true
          return
        }
        yield rows
      }
    } finally {
      // A client that went away mid-stream must not leave the query open.
      if (!done) await this.#call('closeCursor', cursor).catch(() => undefined)
    }
  }

  linesAfter(
    storedTs: bigint,
    limit: number,
    options: LineOptions,
    untilStoredTs: bigint | null = null,
  ): Promise<LineBatch | null> {
    return this.#call('linesAfter', storedTs, limit, options, untilStoredTs)
  }

  backlog(storedTs: bigint): Promise<number> {
    return this.#call('backlog', storedTs)
  }

  checkpoint(name: string): Promise<bigint> {
    return this.#call('checkpoint', name)
  }

  saveCheckpoint(name: string, storedTs: bigint): Promise<void> {
    return this.#call('saveCheckpoint', name, storedTs)
  }

  exportParquet(request: ParquetExport): Promise<{ path: string; rows: number }> {
    return this.#call('exportParquet', request)
  }

  deadLetters(q: DeadLetterQuery): Promise<DeadLetterRow[]> {
    return this.#call('deadLetters', q)
  }

  markReplayed(id: bigint, result: string): Promise<void> {
    return this.#call('markReplayed', id, result)
  }

  memory(): Promise<StoreMemory> {
    return this.#call('memory')
  }

  ping(): Promise<void> {
    return this.#call('ping')
  }

  async close(): Promise<void> {
    if (this.#failure === null) await this.#call('close')
    await this.#worker.terminate()
  }
}

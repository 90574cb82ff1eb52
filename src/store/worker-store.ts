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
 * serialized inside DuckDBStore. A database that fails is reopened by the
 * worker (store-worker.ts), and problem() says so meanwhile. If the worker
 * itself dies, every call fails from then on and problem() says why:
 * nothing is acknowledged that was not committed.
 */

import { Worker } from 'node:worker_threads'
import { reviveError } from '../core/error-transfer.js'
import type { DeadLetter, Reading } from '../core/telemetry.js'
import type { LineOptions } from './line-sql.js'
import { packReadings, transferables } from './reading-columns.js'
import type {
  DeadLetterQuery,
  DeadLetterRow,
  DevicePage,
  DeviceQuery,
  EventSpan,
  FieldUse,
  LineBatch,
  ParquetExport,
  ReadingPage,
  ReadingQuery,
  ReadingRow,
  SeqRun,
  Store,
  StoredField,
  StoreMemory,
  StoreOptions,
  WindowRow,
} from './store.js'
import type { CursorRequest, WorkerCalls, WorkerData, WorkerReply, WorkerRequest } from './store-worker.js'
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
  #problem: string | null = null
  readonly #problemListeners = new Set<(problem: string | null) => void>()

  private constructor(worker: Worker, fields: StoredField[]) {
    this.#worker = worker
    this.#fields = fields
    worker.on('message', (reply: WorkerReply) => {
      if ('event' in reply) {
        if (reply.fields !== null) this.#fields = [...reply.fields]
        return this.#setProblem(reply.problem)
      }
      const pending = this.#pending.get(reply.id)
      if (pending === undefined) return
      this.#pending.delete(reply.id)
      if (reply.ok) pending.resolve('value' in reply ? reply.value : undefined)
      else pending.reject(reviveError(reply.error))
    })
    const fail = (err: Error): void => {
      this.#failure ??= err
      this.#setProblem(err.message)
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
        if (reply.id !== 0 || 'event' in reply) return
        worker.off('message', onMessage)
        if (reply.ok && 'ready' in reply) resolve([...reply.fields])
        else reject(reply.ok ? new Error('store did not open: unexpected reply') : reviveError(reply.error))
      }
      worker.on('message', onMessage)
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`store worker exited with code ${code}`)))
    })
    worker.removeAllListeners('error')
    worker.removeAllListeners('exit')
    return new WorkerStore(worker, fields)
  }

  /** Why the store cannot commit now (its database failed and is being reopened, or its worker died); null while it serves. */
  problem(): string | null {
    return this.#problem
  }

  /** Called when problem() changes. */
  onProblem(listener: (problem: string | null) => void): void {
    this.#problemListeners.add(listener)
  }

  #setProblem(problem: string | null): void {
    if (problem === this.#problem) return
    this.#problem = problem
    for (const listener of this.#problemListeners) listener(problem)
  }

  /** One call of the worker, typed by WorkerCalls: its arguments cross by copy, `transfer` by move. */
  #call<M extends keyof WorkerCalls>(
    method: M,
    args: Parameters<WorkerCalls[M]>,
    transfer: ArrayBuffer[] = [],
  ): ReturnType<WorkerCalls[M]> {
    if (this.#failure !== null) return Promise.reject(this.#failure) as ReturnType<WorkerCalls[M]>
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ id, method, args } as WorkerRequest, transfer)
    }) as ReturnType<WorkerCalls[M]>
  }

  storedFields(): readonly StoredField[] {
    return this.#fields
  }

  async widenField(name: string): Promise<void> {
    await this.#call('widenField', [name])
    this.#fields = this.#fields.map((f) => (f.name === name ? { name, kind: 'float' } : f))
  }

  async commit(
    readings: readonly Reading[],
    deadLetters: readonly DeadLetter[],
    newFields: readonly StoredField[],
  ): Promise<void> {
    const columns = packReadings(readings)
    const fields = newFields.map((f) => ({ name: f.name, kind: f.kind }))
    await this.#call('commit', [columns, deadLetters, fields], transferables(columns))
    if (fields.length > 0) this.#fields = [...this.#fields, ...fields]
  }

  async *seqRuns(): AsyncGenerator<SeqRun> {
    yield* await this.#call('seqRuns', [])
  }

  newestTimes(): Promise<Array<[string, bigint]>> {
    return this.#call('newestTimes', [])
  }

  deadLetterBytes(): Promise<number> {
    return this.#call('deadLetterBytes', [])
  }

  storedCrc(device: string, boot: number, seq: number): Promise<number | null> {
    return this.#call('storedCrc', [device, boot, seq])
  }

  readings(query: ReadingQuery, signal?: AbortSignal): AsyncGenerator<ReadingRow[]> {
    return this.#cursor({ kind: 'readings', query }, signal)
  }

  windows(query: WindowQuery, signal?: AbortSignal): AsyncGenerator<WindowRow[]> {
    return this.#cursor({ kind: 'windows', query }, signal)
  }

  /** A query's rows, one chunk per call: memory stays bounded on both threads. */
  /**
   * A query's rows, one chunk per call: memory stays bounded on both threads.
   * Aborting `signal`, or returning early, closes the worker's cursor at once,
   * which interrupts its query even while a chunk is being computed.
   */
  async *#cursor<Row>(request: CursorRequest, signal: AbortSignal | undefined): AsyncGenerator<Row[]> {
    signal?.throwIfAborted()
    const cursor = await this.#call('openCursor', [request])
    let open = true
    const close = () => {
      if (!open) return
      open = false
      this.#call('closeCursor', [cursor]).catch(() => undefined)
    }
    signal?.addEventListener('abort', close, { once: true })
    // Aborted while the cursor opened: the listener came too late to hear it.
    if (signal?.aborted) close()
    try {
      for (;;) {
        const rows = (await this.#call('nextChunk', [cursor])) as Row[] | null
        if (rows === null) {
          open = false
          return
        }
        yield rows
      }
    } finally {
      signal?.removeEventListener('abort', close)
      close()
    }
  }

  linesAfter(
    storedTs: bigint,
    limit: number,
    options: LineOptions,
    untilStoredTs: bigint | null = null,
  ): Promise<LineBatch | null> {
    return this.#call('linesAfter', [storedTs, limit, options, untilStoredTs])
  }

  backlog(storedTs: bigint): Promise<number> {
    return this.#call('backlog', [storedTs])
  }

  deleteOlderThan(...args: Parameters<import('./retention-sql.js').RetentionLog['deleteOlderThan']>) {
    return this.#call('deleteOlderThan', args)
  }

  checkpoint(name: string): Promise<bigint> {
    return this.#call('checkpoint', [name])
  }

  saveCheckpoint(name: string, storedTs: bigint): Promise<void> {
    return this.#call('saveCheckpoint', [name, storedTs])
  }

  exportParquet(request: ParquetExport, signal?: AbortSignal): Promise<{ path: string; rows: number }> {
    return this.#abortable((query) => this.#call('exportParquet', [request, query]), signal)
  }

  readingPage(q: ReadingQuery, signal?: AbortSignal): Promise<ReadingPage> {
    return this.#abortable((query) => this.#call('readingPage', [q, query]), signal)
  }

  /** A call answered in one reply whose query `signal` interrupts (store-worker.ts, abort). */
  async #abortable<T>(call: (query: number) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    signal?.throwIfAborted()
    const query = this.#nextId++
    const abort = () => void this.#call('abort', [query]).catch(() => undefined)
    signal?.addEventListener('abort', abort, { once: true })
    try {
      return await call(query)
    } finally {
      signal?.removeEventListener('abort', abort)
    }
  }

  deadLetters(q: DeadLetterQuery): Promise<DeadLetterRow[]> {
    return this.#call('deadLetters', [q])
  }

  deadLetterRows(q: DeadLetterQuery, signal?: AbortSignal): AsyncGenerator<DeadLetterRow[]> {
    return this.#cursor({ kind: 'deadLetters', query: q }, signal)
  }

  markReplayed(id: bigint, result: string): Promise<void> {
    return this.#call('markReplayed', [id, result])
  }

  devices(q: DeviceQuery): Promise<DevicePage> {
    return this.#call('devices', [q])
  }

  fieldUse(): Promise<FieldUse[]> {
    return this.#call('fieldUse', [])
  }

  span(devices: readonly string[] | null): Promise<EventSpan | null> {
    return this.#call('span', [devices])
  }

  memory(): Promise<StoreMemory> {
    return this.#call('memory', [])
  }

  ping(): Promise<void> {
    return this.#call('ping', [])
  }

  async close(): Promise<void> {
    this.#problemListeners.clear()
    if (this.#failure === null) await this.#call('close', [])
    await this.#worker.terminate()
  }
}

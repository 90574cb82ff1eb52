/**
 * A diagnostic for bench:fleet, preloaded into the server with `--import`:
 * the store worker's commits are answered at once, without DuckDB, and
 * nothing is stored. The same load with and without this says how much of
 * the publish-to-PUBACK latency is the store's commits (the hop to the worker
 * thread, appending to DuckDB, its WAL and fsync), and how much is everything
 * else (MQTT, the bridge, the feature engine, garbage collection). The
 * server's code is untouched: this only answers the messages WorkerStore
 * posts (src/store/worker-store.ts) as the worker would, on the next turn of the
 * loop.
 */

import { isMainThread, Worker } from 'node:worker_threads'

if (isMainThread) {
  const post = Worker.prototype.postMessage
  Worker.prototype.postMessage = function (this: Worker, value: unknown, transfer?: readonly never[]) {
    const request = value as { id?: number; method?: string } | null
    if (request?.method !== 'commit') return post.call(this, value, transfer)
    setImmediate(() => this.emit('message', { id: request.id, ok: true, value: undefined }))
  }
}

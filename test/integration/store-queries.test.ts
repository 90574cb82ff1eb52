/**
 * History queries in the store (src/store/query-gate.ts), through the
 * worker as the app runs them:
 * - each runs on its own connection: two at once both return every row
 *   (they shared one, and starting the second silently ended the first);
 * - a caller that goes away interrupts its query (DuckDB's interrupt) even
 *   while a chunk is being computed, or before the query has started (a
 *   lone interrupt there DuckDB forgets), and frees its place;
 * - beyond the running and waiting places a query is refused at once
 *   (StoreBusyError, with Retry-After), and one past its time limit is
 *   stopped (QueryTimeoutError); the store still answers meanwhile.
 */

import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import type { WindowFeature } from '../../src/core/aggregations.js'
import { QueryTimeoutError, StoreBusyError } from '../../src/core/errors.js'
import type { Reading } from '../../src/core/telemetry.js'
import { QueryGate, type QueryLimits } from '../../src/store/query-gate.js'
import type { WindowQuery } from '../../src/store/window-sql.js'
import { WorkerStore } from '../../src/store/worker-store.js'
import { tempDir } from '../helpers/app.js'
import { storeReading } from '../helpers/store.js'

const READINGS = 60_000
const FIELDS = [
  { name: 'temp', kind: 'float' as const },
  { name: 'count', kind: 'int' as const },
]

async function filledStore(
  t: { teardown(fn: () => unknown): void },
  queries?: QueryLimits,
): Promise<WorkerStore> {
  const store = await WorkerStore.open(tempDir(t), { memoryMb: 500, ...(queries && { queries }) })
  t.teardown(() => store.close())
  for (let b = 0; b < READINGS / 10_000; b++) {
    const batch: Reading[] = Array.from({ length: 10_000 }, (_, k) => storeReading(b * 10_000 + k, 4))
    await store.commit(batch, [], b === 0 ? FIELDS : [])
  }
  return store
}

const ALL = {
  devices: ['dev-0', 'dev-1', 'dev-2', 'dev-3'],
  fromNs: 0n,
  toNs: 2n ** 62n,
  fields: null,
  limit: 1e9,
}

/** Windows of an hour every millisecond: each reading is in 3.6 million of them, minutes of work. */
function heavy(): WindowQuery {
  const feature: WindowFeature = {
    field: 'temp',
    sizeNs: 3_600_000_000_000n,
    hopNs: 1_000_000n,
    graceNs: 0n,
    sizeLabel: '1h',
    aggregations: ['mean'],
  }
  return { features: [feature], devices: null, fromNs: 0n, toNs: 2n ** 62n, asOfNs: null, includeLate: true }
}

async function drain(rows: AsyncIterable<unknown[]>): Promise<number> {
  let n = 0
  for await (const chunk of rows) n += chunk.length
  return n
}

t.test('store queries - two readings queries at once both return every row', async (t) => {
  const store = await filledStore(t)
  const a = store.readings(ALL)[Symbol.asyncIterator]()
  const b = store.readings(ALL)[Symbol.asyncIterator]()
  let countA = 0
  let countB = 0
  // Interleaved: a chunk of one, then a chunk of the other.
  for (let doneA = false, doneB = false; !doneA || !doneB; ) {
    if (!doneA) {
      const next = await a.next()
      if (next.done) doneA = true
      else countA += next.value.length
    }
    if (!doneB) {
      const next = await b.next()
      if (next.done) doneB = true
      else countB += next.value.length
    }
  }
  t.equal(countA, READINGS, 'the first query returned every reading')
  t.equal(countB, READINGS, 'the second too')
})

t.test(
  'store queries - an aborted query is interrupted while it computes, and frees its place',
  async (t) => {
    const store = await filledStore(t, { maxRunning: 1, maxQueued: 0, timeoutMs: 600_000 })
    const abort = new AbortController()
    const started = performance.now()
    const running = drain(store.windows(heavy(), abort.signal)).then(
      () => 'finished',
      (err: Error) => err.name,
    )
    await new Promise((r) => setTimeout(r, 500))
    const pingStart = performance.now()
    await store.ping()
    t.ok(performance.now() - pingStart < 1000, 'the store answers a ping while the query runs')
    abort.abort()
    const outcome = await running
    const tookMs = performance.now() - started
    t.not(outcome, 'finished', `the query did not run to its end (${outcome})`)
    t.ok(tookMs < 5_000, `it stopped within seconds of the abort (${Math.round(tookMs)} ms in all)`)
    // Its place is free again: with one place and no queue, a new query is admitted.
    t.equal(await drain(store.readings({ ...ALL, limit: 10 })), 10, 'the next query is admitted and answered')
  },
)

t.test('store queries - past the running and waiting places a query is refused at once', async (t) => {
  const store = await filledStore(t, { maxRunning: 1, maxQueued: 1, timeoutMs: 600_000 })
  const abort = new AbortController()
  const first = drain(store.windows(heavy(), abort.signal)).catch((err: Error) => err.name)
  await new Promise((r) => setTimeout(r, 300))
  const second = drain(store.windows(heavy(), abort.signal)).catch((err: Error) => err.name)
  await new Promise((r) => setTimeout(r, 300))
  const refusedAt = performance.now()
  const err = await drain(store.readings(ALL)).then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(err instanceof StoreBusyError, 'a third query is refused with StoreBusyError')
  t.match(err, { code: 'TLM_ERR_BUSY', statusCode: 503, retryAfterS: 5 })
  t.ok(performance.now() - refusedAt < 1000, 'at once, not after the others')
  abort.abort()
  await Promise.all([first, second])
})

t.test('store queries - a query past its time limit is stopped with QueryTimeoutError', async (t) => {
  const store = await filledStore(t, { maxRunning: 2, maxQueued: 2, timeoutMs: 500 })
  const started = performance.now()
  const err = await drain(store.windows(heavy())).then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(err instanceof QueryTimeoutError, `stopped with QueryTimeoutError (${(err as Error)?.message})`)
  t.match(err, { code: 'TLM_ERR_QUERY_TIMEOUT', statusCode: 503 })
  t.ok(performance.now() - started < 5_000, 'within seconds of the limit')
  t.equal(await drain(store.readings({ ...ALL, limit: 10 })), 10, 'the store still answers')
})

t.test('store queries - a query aborted while it waits for a place leaves the queue', async (t) => {
  const store = await filledStore(t, { maxRunning: 1, maxQueued: 1, timeoutMs: 600_000 })
  const running = new AbortController()
  const first = drain(store.windows(heavy(), running.signal)).catch((err: Error) => err.name)
  await new Promise((r) => setTimeout(r, 300))
  const waiting = new AbortController()
  const second = drain(store.windows(heavy(), waiting.signal)).catch((err: Error) => err.name)
  await new Promise((r) => setTimeout(r, 300))
  waiting.abort()
  t.not(await second, 'finished', 'the waiting query ends when aborted')
  // Its place in the queue is free: a third query waits there instead of being refused.
  const third = drain(store.readings({ ...ALL, limit: 10 })).catch((err: Error) => err.name)
  await new Promise((r) => setTimeout(r, 300))
  running.abort()
  t.equal(await third, 10, 'the third query waited, then was answered')
  await first
})

t.test(
  'store queries - a stop that reaches the connection before its query starts still stops it',
  async (t) => {
    // DuckDB forgets an interrupt sent before a query starts: under load a
    // request cancelled between admission and execution ran its whole query,
    // and two of those held every place (cancelled-queries.test.ts in CI).
    const db = await DuckDBInstance.create(':memory:')
    t.teardown(() => db.closeSync())
    const gate = new QueryGate(() => db.connect(), { maxRunning: 1, maxQueued: 0, timeoutMs: 600_000 })
    const abort = new AbortController()
    const query = await gate.admit(abort.signal)
    abort.abort(new Error('the client went away'))
    // The test's own stop, so that a missing fix fails here instead of running for a minute.
    const backstop = setTimeout(() => query.connection.interrupt(), 5000)
    const started = performance.now()
    const outcome = await query.connection
      .run('SELECT count(*) FROM range(20000000000) t(x) WHERE x % 7 = 3')
      .then(
        () => 'finished',
        (err: Error) => err.message,
      )
    const tookMs = performance.now() - started
    clearTimeout(backstop)
    query.done()
    t.match(outcome, /Interrupted/, 'the query was interrupted')
    t.ok(tookMs < 3000, `by the gate, not the test's stop at 5 s (${Math.round(tookMs)} ms)`)
    // With one place and no queue, admission would throw StoreBusyError if the place were still held.
    const next = await gate.admit(undefined)
    next.done()
    t.pass('its place is free again: the next query is admitted')
  },
)

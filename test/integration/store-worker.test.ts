/**
 * The store's worker thread (src/store/store-worker.ts): an error thrown in
 * the worker reaches the caller as the same registry class, with its code,
 * HTTP status and fields (src/core/error-transfer.ts); before, it arrived
 * as a plain Error with only the message.
 */

import t from 'tap'
import { InvalidParameterError, StoreUnavailableError, TelemetryError } from '../../src/core/errors.js'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { WorkerStore } from '../../src/store/worker-store.js'
import { tempDir } from '../helpers/app.js'
import { storeReading } from '../helpers/store.js'

t.test('store worker - an error keeps its class, code and fields across the thread', async (t) => {
  const store = await WorkerStore.open(tempDir(t))
  t.teardown(() => store.close())
  await store.commit(
    [storeReading(0, 1)],
    [],
    [
      { name: 'temp', kind: 'float' },
      { name: 'count', kind: 'int' },
    ],
  )
  // temp is already a float: widening it is refused in the worker.
  const err = await store.widenField('temp').then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(err instanceof InvalidParameterError, 'an InvalidParameterError, not a plain Error')
  t.ok(err instanceof TelemetryError)
  t.match(err, {
    name: 'InvalidParameterError',
    code: 'TLM_ERR_INVALID_PARAMETER',
    statusCode: 400,
    parameter: 'field',
    message: 'field: temp is not an integer field',
  })
  // The worker still answers, and a good call works.
  await store.widenField('count')
  t.same(
    store.storedFields().find((f) => f.name === 'count'),
    { name: 'count', kind: 'float' },
  )
})

t.test('store worker - an error of DuckDB itself arrives as an Error with its message', async (t) => {
  const store = await WorkerStore.open(tempDir(t))
  t.teardown(() => store.close())
  // A reading with a field that has no column: the worker refuses the batch.
  const err = await store.commit([storeReading(0, 1)], [], []).then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(err instanceof Error)
  t.notOk(err instanceof TelemetryError, 'not one of ours: the API answers it as TLM_ERR_INTERNAL')
  t.match((err as Error).message, /field temp has no id/)
})

t.test('store - a commit after close is StoreUnavailableError (503), nothing committed', async (t) => {
  const store = await DuckDBStore.open(tempDir(t))
  await store.close()
  await t.rejects(store.commit([storeReading(0, 1)], [], []), {
    name: 'StoreUnavailableError',
    code: 'TLM_ERR_STORE_UNAVAILABLE',
    statusCode: 503,
  })
  t.ok((await store.commit([], [], []).catch((e: unknown) => e)) instanceof StoreUnavailableError)
})

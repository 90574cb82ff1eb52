/**
 * bench/no-commit.ts, the fleet bench's diagnostic: loaded into a process, it
 * answers the store worker's commits at once and stores nothing, while every
 * other call still reaches the worker. It patches Worker for the whole
 * process, so it has this test file to itself.
 */

import t from 'tap'
import '../../../bench/no-commit.js'
import { WorkerStore } from '../../../src/store/worker-store.js'
import { tempDir } from '../../helpers/app.js'
import { storeReading } from '../../helpers/store.js'

t.test('no-commit - commits are answered without the store; queries still reach it', async (t) => {
  const store = await WorkerStore.open(tempDir(t))
  t.teardown(() => store.close())
  const readings = Array.from({ length: 100 }, (_, seq) => storeReading(seq, 10))
  await store.commit(
    readings,
    [],
    [
      { name: 'temp', kind: 'float' },
      { name: 'count', kind: 'int' },
    ],
  )
  // The worker never saw the commit: no field columns, no rows.
  const runs = []
  for await (const run of store.seqRuns()) runs.push(run)
  t.same(runs, [], 'nothing stored')
  t.equal((await store.newestTimes()).length, 0)
  await store.ping()
  t.pass('other calls are answered by the worker')
})

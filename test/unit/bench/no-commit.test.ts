/**
 * bench/no-commit.ts, the fleet bench's diagnostic: its store answers
 * commits at once and stores nothing, while every other call still reaches
 * the real store.
 */

import t from 'tap'
import { openNoCommitStore } from '../../../bench/no-commit.js'
import { DEFAULT_STORE_MEMORY_MB } from '../../../src/store/index.js'
import { tempDir } from '../../helpers/app.js'
import { storeReading } from '../../helpers/store.js'

t.test('no-commit - commits are answered without the store; queries still reach it', async (t) => {
  const store = await openNoCommitStore(tempDir(t), { memoryMb: DEFAULT_STORE_MEMORY_MB })
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
  t.same(store.storedFields(), [], 'no field columns')
  await store.ping()
  t.equal(store.problem(), null, 'other calls are answered by the worker')
})

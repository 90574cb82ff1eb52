/**
 * DuckDB's threads follow --max-queries (src/store/open.ts, queryThreads):
 * with DuckDB's default of one thread per core, two history queries kept
 * more threads busy than the machine has cores, and ingest waited.
 */

import { availableParallelism } from 'node:os'
import t from 'tap'
import { openDatabase, queryThreads } from '../../src/store/open.js'
import { tempDir } from '../helpers/app.js'

t.test(
  'store threads - queries keep at most cores - 1 threads busy, or --max-queries when more',
  async (t) => {
    t.equal(queryThreads(1, 2), 1, '2 cores, 1 query: the query alone')
    t.equal(queryThreads(2, 2), 1, '2 cores, 2 queries: each on its own thread, no shared ones')
    t.equal(queryThreads(2, 8), 6, '8 cores, 2 queries: 2 + 5 shared = 7 busy at most')
    t.equal(queryThreads(64, 8), 1, 'never below one')
  },
)

t.test('store threads - the database is opened with them', async (t) => {
  for (const maxRunning of [1, 2]) {
    const db = await openDatabase(tempDir(t), {
      memoryMb: 200,
      queries: { maxRunning, maxQueued: 0, timeoutMs: 1000 },
    })
    const rows = (await db.read.runAndReadAll("SELECT current_setting('threads')::INTEGER")).getRows()
    t.equal(
      Number(rows[0]![0]),
      Math.max(1, availableParallelism() - maxRunning),
      `--max-queries ${maxRunning}`,
    )
    db.read.closeSync()
    db.write.closeSync()
    db.instance.closeSync()
  }
})

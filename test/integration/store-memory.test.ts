/**
 * The store's memory limit bounds its cache of what it wrote: without it,
 * DuckDB keeps every block written until its limit (1 GB by default), and a
 * long-running store's memory grows by ~23 MB a minute at 10,000 readings/s.
 */

import t from 'tap'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { tempDir } from '../helpers/app.js'
import { isDuckDBLimit, storeReading } from '../helpers/store.js'

const BATCH = 20_000
const BATCHES = 120

/** Writes 2.4 million readings; returns the most the store held after a commit. */
async function fill(store: DuckDBStore): Promise<number> {
  let seq = 0
  let peak = 0
  for (let b = 0; b < BATCHES; b++) {
    const readings = Array.from({ length: BATCH }, () => storeReading(seq++, 1000))
    const newFields =
      b === 0
        ? [
            { name: 'temp', kind: 'float' as const },
            { name: 'count', kind: 'int' as const },
          ]
        : []
    await store.commit(readings, [], newFields)
    peak = Math.max(peak, (await store.memory()).usedBytes)
  }
  return peak
}

t.test(
  'store memory - the cache of written blocks stays under the limit, and grows past it without one',
  async (t) => {
    const bounded = await DuckDBStore.open(tempDir(t), { memoryMb: 24 })
    t.teardown(() => bounded.close())
    const smallPeak = await fill(bounded)
    const small = await bounded.memory()
    t.ok(isDuckDBLimit(small.limitBytes, 24), `limit read back from DuckDB: ${small.limitBytes}`)
    t.ok(smallPeak > 0 && smallPeak <= 24e6, `at most ${smallPeak} bytes held, within 24 MB`)

    const unbounded = await DuckDBStore.open(tempDir(t))
    t.teardown(() => unbounded.close())
    const largePeak = await fill(unbounded)
    const large = await unbounded.memory()
    t.ok(isDuckDBLimit(large.limitBytes, 1000), `default limit 1000 MB: ${large.limitBytes}`)
    // The same writes: what the default keeps is what the small limit made DuckDB give up.
    t.ok(largePeak > 24e6, `up to ${largePeak} bytes held under the default limit, more than 24 MB`)
  },
)

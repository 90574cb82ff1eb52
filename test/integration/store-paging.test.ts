/**
 * Keyset paging in the store (src/store/reading-key.ts, reading-sql.ts) on
 * random readings (fast-check) with many equal times across devices, boots,
 * seqs and samples: pages of any size, each ended where readingPage says,
 * give exactly the rows of one query over the whole range, in its order;
 * and the order InfluxDB history sorts by in JavaScript (compareKeys) is
 * DuckDB's. A failure prints its seed and the smallest case found.
 */

import fc from 'fast-check'
import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { compareKeys, DuckDBStore, keyOf, type ReadingKey, type ReadingQuery } from '../../src/store/index.js'
import { tempDir } from '../helpers/app.js'

const RUNS = 60
const BASE_NS = 1_700_000_000_000_000_000n
/** Suffixes whose byte order differs from a naive one: '-' < '.' < digits < upper case < '_' < lower case. */
const SUFFIXES = ['-x', '.x', '0', 'B', '_', 'a', 'a.1']

interface Sample {
  readonly device: number
  readonly boot: number
  readonly seq: number
  readonly idx: number
  readonly t: number
}

const sample = fc.record({
  device: fc.nat(SUFFIXES.length - 1),
  boot: fc.nat(2),
  seq: fc.nat(4),
  idx: fc.nat(2),
  t: fc.nat(4),
})
const samples = fc.uniqueArray(sample, {
  minLength: 1,
  maxLength: 60,
  selector: (s) => `${s.device}/${s.boot}/${s.seq}/${s.idx}`,
})

function reading(run: number, s: Sample): Reading {
  // Few distinct times: most readings share theirs with others.
  const tsNs = BASE_NS + BigInt(s.t) * 1_000n
  return {
    device: `r${run}${SUFFIXES[s.device]}`,
    boot: s.boot,
    seq: s.seq,
    idx: s.idx,
    tsNs,
    newestTsNs: tsNs,
    deviceTsNs: tsNs,
    recvTsNs: tsNs,
    offsetNs: 0n,
    crc: 0,
    tags: null,
    fields: [],
  }
}

const keyText = (k: ReadingKey) => `${k.ts}/${k.device}/${k.boot}/${k.seq}/${k.idx}/${k.storedTs}`

t.test('store paging - pages of any size are the whole range once, in its order', async (t) => {
  const store = await DuckDBStore.open(tempDir(t))
  t.teardown(() => store.close())
  let run = 0
  await fc.assert(
    fc.asyncProperty(samples, fc.integer({ min: 1, max: 8 }), fc.nat(60), async (list, limit, cut) => {
      run++
      const readings = list.map((s) => reading(run, s))
      // Two commits: the stored_ts of a reading is not its place in the order.
      const split = cut % readings.length
      await store.commit(readings.slice(split), [], [])
      if (split > 0) await store.commit(readings.slice(0, split), [], [])
      const q: ReadingQuery = {
        devices: SUFFIXES.map((s) => `r${run}${s}`),
        fromNs: BASE_NS,
        toNs: BASE_NS + 1_000_000n,
        fields: null,
        limit,
      }
      const whole: ReadingKey[] = []
      for await (const rows of store.readings({ ...q, limit: 1_000 })) whole.push(...rows.map(keyOf))
      const sorted = [...whole].sort(compareKeys)
      if (whole.map(keyText).join() !== sorted.map(keyText).join())
        throw new Error('compareKeys orders differently from the store')

      const paged: ReadingKey[] = []
      let after: ReadingKey | null = null
      for (let page = 0; page <= readings.length; page++) {
        const end = await store.readingPage({ ...q, after })
        const rows: ReadingKey[] = []
        for await (const chunk of store.readings({ ...q, after, asOfNs: end.asOfNs, through: end.last }))
          rows.push(...chunk.map(keyOf))
        if (rows.length > limit || (end.last !== null && rows.length !== limit))
          throw new Error(`a page of ${rows.length} with limit ${limit} (cut: ${end.last !== null})`)
        paged.push(...rows)
        if ((end.last !== null) !== paged.length < whole.length)
          throw new Error(
            `a page that says it is ${end.last === null ? 'not ' : ''}cut, with ${whole.length - paged.length} rows after it`,
          )
        if (end.last === null) break
        if (keyText(rows.at(-1)!) !== keyText(end.last))
          throw new Error('the page does not end at its last key')
        after = end.last
      }
      if (paged.map(keyText).join() !== whole.map(keyText).join())
        throw new Error(`pages of ${limit}: ${paged.length} rows, the range has ${whole.length}`)
    }),
    { numRuns: RUNS },
  )
  t.pass(`${RUNS} random ranges, paged and whole alike`)
})

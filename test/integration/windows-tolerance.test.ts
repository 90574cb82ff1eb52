/**
 * The tolerance of parity at scale (docs/training-data.md#parity). DuckDB
 * aggregates in parallel: when one window's readings fall in two threads'
 * parts of the table, their partial sums are combined, and sum, mean and
 * std can differ from the live engine's sequential fold in the last bits.
 * Here 1,000,000 stored readings (a fleet interleaved in stored order, with
 * out-of-order readings) go through the live engine in stored order and
 * through the history query; count, min, max, first, last and rate must be
 * bit-equal, sum, mean and std within the documented tolerance.
 */

import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import { formatRfc3339Ns } from '../../src/core/time.js'
import {
  type FeatureDefinition,
  FeatureEngine,
  parseFeatureDefinitions,
  type WindowEvent,
} from '../../src/features/index.js'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { tempDir } from '../helpers/app.js'

const DEVICES = 200
const READINGS = 1_000_000
const T0 = 1_764_115_200_000_000_000n
/** Relative tolerance of sum, mean and std (docs/training-data.md). */
const TOLERANCE = 1e-12

t.test(
  'windows - at a million readings: exact where exact, within tolerance where DuckDB combines',
  async (t) => {
    const dir = tempDir(t)
    const [feature] = parseFeatureDefinitions({
      features: [
        {
          name: 'temp_10s',
          field: 'temp',
          window: { size: '10s' },
          aggregations: ['count', 'sum', 'mean', 'std', 'min', 'max', 'first', 'last', 'rate'],
          grace: '1s',
        },
      ],
    }).features as [FeatureDefinition]

    // The schema from the store itself, the rows from SQL: 200 devices, a
    // reading every 50 ms each, interleaved as a fleet's are in stored order;
    // every 7th reading 1.5 s out of order (some of those late for the 1 s grace).
    const store0 = await DuckDBStore.open(dir)
    await store0.close()
    const db = await DuckDBInstance.create(join(dir, 'telemetry.duckdb'))
    const conn = await db.connect()
    await conn.run(`INSERT INTO fields VALUES (1, 'temp', 'float', 0)`)
    await conn.run(`INSERT INTO readings
    SELECT device, 1, seq, 0, ts, ts, ts, 0, 0, NULL, stored_ts,
      max(ts) OVER (PARTITION BY device ORDER BY stored_ts ROWS UNBOUNDED PRECEDING),
      MAP {1: {'i': NULL, 'f': temp, 'b': NULL}}
    FROM (SELECT 'd' || (i % ${DEVICES}) AS device, i // ${DEVICES} + 1 AS seq, ${T0} + i AS stored_ts,
            ${T0} + (i // ${DEVICES}) * 50000000 - CASE WHEN i % 7 = 0 THEN 1500000000 ELSE 0 END AS ts,
            300 + (hash(i) % 100000) / 997.0 + (i % ${DEVICES}) AS temp
          FROM range(${READINGS}) r(i))
    ORDER BY stored_ts`)

    // The live path: the engine, fed in stored order with the stored newest_ts.
    const live = new Map<string, WindowEvent>()
    const engine = new FeatureEngine([feature], (e) => {
      if (e.kind === 'window') live.set(`${e.device} ${e.windowEndNs}`, e)
    })
    const result = await conn.stream(
      'SELECT device, ts, newest_ts, fields[1].f FROM readings ORDER BY stored_ts',
    )
    for await (const rows of result.yieldRowsJs())
      for (const [device, ts, newest, temp] of rows as [string, bigint, bigint, number][])
        engine.add({
          device,
          tsNs: ts,
          newestTsNs: newest,
          recvTsNs: ts,
          fields: [{ name: 'temp', kind: 'float', value: temp }],
        })
    conn.closeSync()
    db.closeSync()

    // The history path.
    const store = await DuckDBStore.open(dir)
    t.teardown(() => store.close())
    const history = new Map<string, Array<number | null>>()
    for await (const chunk of store.windows({
      features: [feature],
      devices: null,
      fromNs: T0 - 60_000_000_000n,
      toNs: T0 + 600_000_000_000n,
      asOfNs: null,
      includeLate: false,
    }))
      for (const row of chunk) history.set(`${row.device} ${row.windowEndNs}`, row.values)

    const exact = ['count', 'min', 'max', 'first', 'last', 'rate'] as const
    const close = ['sum', 'mean', 'std'] as const
    const aggregations = feature.aggregations
    let inexact = 0
    let worst = 0
    const wrong: string[] = []
    for (const [key, event] of live) {
      const values = history.get(key)
      if (values === undefined) {
        wrong.push(`${key}: no history row`)
        continue
      }
      for (const a of exact) {
        const h = values[aggregations.indexOf(a)]
        if (h !== event.values[a]) wrong.push(`${key} ${a}: live ${event.values[a]} history ${h}`)
      }
      for (const a of close) {
        const h = values[aggregations.indexOf(a)]!
        const l = event.values[a]!
        if (h === l) continue
        inexact++
        const relative = Math.abs(h - l) / Math.abs(l)
        worst = Math.max(worst, relative)
        if (!(relative <= TOLERANCE)) wrong.push(`${key} ${a}: live ${l} history ${h} (relative ${relative})`)
      }
    }
    t.ok(live.size > 4000, `${live.size} windows closed live`)
    t.same(wrong.slice(0, 10), [], `${wrong.length} values out of bounds`)
    t.comment(
      `${live.size} windows: ${inexact} sum/mean/std values not bit-equal, worst relative difference ${worst} (first window ${formatRfc3339Ns(T0)})`,
    )
  },
)

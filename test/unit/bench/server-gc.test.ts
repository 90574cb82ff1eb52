/**
 * The garbage-collection counts bench:fleet reads from the app's /metrics.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { collectDefaultMetrics, Registry } from 'prom-client'
import t from 'tap'
import { gcCounts } from '../../../bench/server-gc.js'

t.test('bench - gcCounts reads major and minor collections and their pause seconds', async (t) => {
  const text = [
    '# TYPE nodejs_gc_duration_seconds histogram',
    'nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 40',
    'nodejs_gc_duration_seconds_sum{kind="minor"} 0.25',
    'nodejs_gc_duration_seconds_count{kind="minor"} 120',
    'nodejs_gc_duration_seconds_sum{kind="major"} 0.0625',
    'nodejs_gc_duration_seconds_count{kind="major"} 3',
    'nodejs_gc_duration_seconds_sum{kind="incremental"} 9',
    'nodejs_gc_duration_seconds_count{kind="incremental"} 9',
  ].join('\n')
  t.strictSame(gcCounts(text), { major: 3, majorS: 0.0625, minor: 120, minorS: 0.25 })
  t.strictSame(gcCounts(''), { major: 0, majorS: 0, minor: 0, minorS: 0 }, 'none yet')
})

t.test('bench - gcCounts reads what prom-client writes after a major collection', async (t) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  // prom-client counts from a PerformanceObserver, whose entries come a little later.
  let counts = gcCounts(await registry.metrics())
  for (let i = 0; i < 100 && counts.major === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    counts = gcCounts(await registry.metrics())
  }
  t.ok(counts.major >= 1, `major collections counted: ${counts.major}`)
  t.ok(counts.majorS > 0, 'with their pause')
})

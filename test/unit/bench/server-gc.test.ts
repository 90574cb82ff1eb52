/**
 * The garbage-collection counts bench:fleet reads from the app's /metrics.
 */

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { collectDefaultMetrics, Registry } from 'prom-client'
import t from 'tap'
import { GcSampler, gcCounts } from '../../../bench/probes.js'
import { LatencyHistogram } from '../../../simulators/index.js'

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

t.test('bench - GcSampler tells which stretches a major collection ended in', async (t) => {
  let scrapes = 0
  const server = createServer((_req, res) => {
    scrapes++
    // The third scrape is the first to see a major collection.
    const major = scrapes >= 3 ? 1 : 0
    res.end(
      `nodejs_gc_duration_seconds_sum{kind="major"} ${major * 0.02}\n` +
        `nodejs_gc_duration_seconds_count{kind="major"} ${major}\n` +
        `nodejs_gc_duration_seconds_sum{kind="minor"} ${scrapes * 0.001}\n` +
        `nodejs_gc_duration_seconds_count{kind="minor"} ${scrapes}\n`,
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const { port } = server.address() as AddressInfo
  // Scrape k comes back at "time" k × 1000.
  const sampler = new GcSampler(`http://127.0.0.1:${port}`, 10, () => scrapes * 1000)
  while (scrapes < 5) await new Promise((resolve) => setTimeout(resolve, 10))
  await sampler.stop()

  t.equal(sampler.majorDuring(2000, 3000), true, 'between the 2nd and 3rd scrape')
  t.equal(sampler.majorDuring(2500, 3500), true, 'a stretch overlapping that interval')
  t.equal(sampler.majorDuring(3500, 4500), false, 'after it')
  t.equal(sampler.majorDuring(500, 1500), false, 'before it')
  const totals = sampler.totals(1000, 4000)
  t.equal(totals.major, 1)
  t.equal(totals.minor, 3)
  t.ok(Math.abs(totals.majorS - 0.02) < 1e-9, 'its pause')

  const slow = new LatencyHistogram()
  slow.record(90)
  const fast = new LatencyHistogram()
  fast.record(5)
  fast.record(6)
  const split = sampler.split([
    [2000, slow],
    [4000, fast],
  ])
  t.equal(split.secondsWithMajor, 1)
  t.equal(split.seconds, 2)
  t.strictSame([split.withMajor.count, split.withMajor.maxMs], [1, 90], 'the second with the collection')
  t.strictSame([split.other.count, split.other.maxMs], [2, 6], 'the other one')
})

/** The bench's reading of the app's group-commit histograms, on text from the app's own metrics. */

import t from 'tap'
import { createMetrics } from '../../../src/metrics.js'
import { commitsText, countersFrom } from '../../helpers/stored.js'

t.test('verify - group commits between two scrapes: how many, how large, how long', async (t) => {
  const metrics = createMetrics()
  metrics.commitReadings.observe(5)
  metrics.commitSeconds.observe(0.001)
  const before = countersFrom(await metrics.registry.metrics())
  for (const [readings, seconds] of [
    [10, 0.002],
    [20, 0.012],
    [30, 0.03],
  ] as const) {
    metrics.commitReadings.observe(readings)
    metrics.commitSeconds.observe(seconds)
  }
  const after = countersFrom(await metrics.registry.metrics())
  t.equal(after.commits, 4)
  t.equal(after.commitsOver10ms, 2)
  t.equal(commitsText(before, after), '3 commits of 20 readings, 14.67 ms mean, 66.7% over 10 ms')
  t.equal(commitsText(after, after), '0 commits')
})

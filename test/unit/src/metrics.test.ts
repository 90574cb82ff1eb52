/**
 * A Prometheus scrape must not cost the event loop in proportion to the
 * connections: prom-client's per-handle default metrics are left out.
 */

import fs from 'node:fs'
import t from 'tap'
import { createMetrics, watchStoreMemory } from '../../../src/metrics.js'

t.test('metrics - a scrape walks no open handle, file descriptor or resource list', async (t) => {
  const { registry } = createMetrics()
  const walks: string[] = []
  const spy = <K extends string>(target: Record<K, unknown>, key: K, what: string): void => {
    const original = target[key] as (...args: unknown[]) => unknown
    target[key] = function (this: unknown, ...args: unknown[]) {
      if (what !== 'readdir' || String(args[0]).includes('/fd')) walks.push(what)
      return original.apply(this, args)
    }
    t.teardown(() => {
      target[key] = original
    })
  }
  const proc = process as unknown as Record<string, unknown>
  spy(proc, '_getActiveHandles', 'handles')
  if (typeof proc.getActiveResourcesInfo === 'function') spy(proc, 'getActiveResourcesInfo', 'resources')
  spy(fs as unknown as Record<string, unknown>, 'readdirSync', 'readdir')

  const text = await registry.metrics()
  t.strictSame(walks, [], 'nothing per handle was listed')
  for (const name of ['process_open_fds', 'nodejs_active_handles', 'nodejs_active_resources'])
    t.notMatch(text, new RegExp(`^${name}`, 'm'), `no ${name}`)
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_max_fds',
    'nodejs_gc_duration_seconds',
    'nodejs_heap_space_size_used_bytes',
  ])
    t.match(text, new RegExp(`^# HELP ${name} `, 'm'), `${name} is still there`)
})

t.test(
  'metrics - the store memory gauges: one read of the store per scrape; a failed read leaves them out',
  async (t) => {
    const metrics = createMetrics()
    let reads = 0
    let failing = false
    watchStoreMemory(metrics, async () => {
      reads++
      if (failing) throw new Error('store worker gone')
      return { usedBytes: 1234, limitBytes: 5678 }
    })
    const text = await metrics.registry.metrics()
    t.match(text, /^store_memory_bytes 1234$/m)
    t.match(text, /^store_memory_limit_bytes 5678$/m)
    t.equal(reads, 1, 'both gauges from one read')
    await metrics.registry.metrics()
    t.equal(reads, 2, 'the next scrape reads again')
    failing = true
    const after = await metrics.registry.metrics()
    t.match(after, /^telemetry_readings_accepted_total 0$/m, 'the scrape still answers')
    t.notMatch(after, /^store_memory_(limit_)?bytes /m, 'no figure, not the last one')
    t.equal(reads, 3)
    failing = false
    t.match(await metrics.registry.metrics(), /^store_memory_bytes 1234$/m, 'back once the store answers')
  },
)

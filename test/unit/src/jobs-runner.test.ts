/** The job runner over real node-cron schedules; the jobs are stand-ins whose runs the test holds open. */

import { pino } from 'pino'
import { Registry } from 'prom-client'
import t from 'tap'
import { JobRunningError, NotFoundError } from '../../../src/core/errors.js'
import { type Job, JobRunner } from '../../../src/jobs/index.js'
import { createJobMetrics } from '../../../src/jobs/job-metrics.js'

/** A job whose runs wait until release() (or the runner's abort), counting starts. */
function heldJob(name: string, schedule: string) {
  let release = () => {}
  let starts = 0
  const job: Job = {
    name,
    schedule,
    run: (signal) => {
      starts++
      return new Promise((resolve) => {
        release = () => resolve({ rows: 7 })
        signal.addEventListener('abort', () => resolve({ rows: 1 }), { once: true })
      })
    },
  }
  return { job, release: () => release(), starts: () => starts }
}

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0)
}

async function until(what: string, check: () => Promise<boolean> | boolean, boundMs = 5000): Promise<void> {
  const end = Date.now() + boundMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${boundMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const silent = pino({ level: 'silent' })

t.test('jobs - a tick while the job runs is skipped and counted, and starts no second run', async (t) => {
  const registry = new Registry()
  const held = heldJob('held', '* * * * * *') // every second
  const runner = new JobRunner([held.job], createJobMetrics(registry), silent)
  t.teardown(() => runner.close())
  runner.start()
  await until('a scheduled run starts', () => held.starts() === 1, 3000)
  // The next ticks come while the first run is held.
  await until(
    'a tick is skipped',
    async () => (await value(registry, 'job_runs_total', { job: 'held', result: 'skipped' })) >= 1,
    3000,
  )
  t.equal(held.starts(), 1, 'no second run while the first is going')
  t.ok(runner.list()[0]!.skipped >= 1, 'GET /v1/admin/jobs shows the skipped ticks')
  t.equal(runner.list()[0]!.running, true)
  // Asked while it runs: refused, not started.
  await t.rejects(runner.runNow('held'), JobRunningError)
  t.equal(held.starts(), 1)
  held.release()
  await until('the run is recorded', () => runner.list()[0]!.lastRun !== null)
  const last = runner.list()[0]!.lastRun!
  t.match(last, { job: 'held', trigger: 'scheduled', result: 'success', rows: 7 })
  t.equal(await value(registry, 'job_runs_total', { job: 'held', result: 'success' }), 1)
  t.equal(await value(registry, 'job_rows_total', { job: 'held' }), 7)
  t.ok((await value(registry, 'job_last_success_timestamp_seconds', { job: 'held' })) > 1.7e9)
})

t.test('jobs - a run asked for while a scheduled tick comes: the tick is skipped', async (t) => {
  const registry = new Registry()
  const held = heldJob('asked', '* * * * * *')
  const runner = new JobRunner([held.job], createJobMetrics(registry), silent)
  t.teardown(() => runner.close())
  const run = runner.runNow('asked')
  runner.start()
  await until(
    'a tick is skipped',
    async () => (await value(registry, 'job_runs_total', { job: 'asked', result: 'skipped' })) >= 1,
    3000,
  )
  t.equal(held.starts(), 1, "node-cron's noOverlap would not have stopped this one: ours does")
  held.release()
  t.match(await run, { trigger: 'asked', result: 'success' })
})

t.test('jobs - a failing run is logged and counted; the runner goes on', async (t) => {
  const registry = new Registry()
  const lines: string[] = []
  const log = pino({ level: 'error' }, { write: (line: string) => lines.push(line) })
  let fail = true
  const job: Job = {
    name: 'flaky',
    schedule: 'off',
    run: async () => {
      if (fail) throw new Error('disk on fire')
      return { rows: 2 }
    },
  }
  const runner = new JobRunner([job], createJobMetrics(registry), log)
  t.teardown(() => runner.close())
  runner.start()
  t.equal(runner.list()[0]!.nextRunAt, null, 'off: not scheduled')
  t.match(await runner.runNow('flaky'), { result: 'failure', error: 'disk on fire', rows: 0 })
  t.equal(await value(registry, 'job_runs_total', { job: 'flaky', result: 'failure' }), 1)
  t.match(lines.join(''), /job failed/)
  fail = false
  t.match(await runner.runNow('flaky'), { result: 'success', rows: 2 })
  t.equal(runner.list()[0]!.lastSuccessAt, runner.list()[0]!.lastRun!.finishedAt)
  await t.rejects(runner.runNow('nope'), NotFoundError)
})

t.test('jobs - close interrupts a running job and waits for it', async (t) => {
  const registry = new Registry()
  const held = heldJob('long', 'off')
  const runner = new JobRunner([held.job], createJobMetrics(registry), silent)
  runner.start()
  const run = runner.runNow('long')
  await runner.close()
  t.match(await run, { result: 'interrupted', rows: 1 })
  t.equal(await value(registry, 'job_runs_total', { job: 'long', result: 'interrupted' }), 1)
  t.equal((await value(registry, 'job_duration_seconds', { job: 'long' })) > 0, true)
})

/**
 * Runs the maintenance jobs: on their node-cron schedules, or now when asked
 * (POST /v1/admin/jobs/{name}/run, `npm run job`). A job never overlaps
 * itself, whichever way a run was started:
 *
 *   tick ──▶ running? ── yes ──▶ skipped (job_runs_total{result="skipped"})
 *                     └─ no ───▶ run ──▶ success | failure | interrupted
 *   ask  ──▶ running? ── yes ──▶ JobRunningError (409)
 *                     └─ no ───▶ run, answered with its JobRun
 *
 * The guard is ours, not node-cron's `noOverlap`: in node-cron 4.6 that
 * option only compares a scheduled tick with the previous scheduled tick
 * (Runner.start in dist/_shared.js), and `task.execute()` bypasses it, so a
 * tick during a run asked for over HTTP would start a second one.
 *
 * A failed run is logged and counted, never thrown at the process. close()
 * stops the schedules, aborts a running job (it stops at its next safe
 * point, e.g. between retention slices) and waits for it.
 */

import cron, { type ScheduledTask } from 'node-cron'
import type { Logger } from 'pino'
import { JobRunningError, NotFoundError } from '../core/errors.js'
import { type Job, type JobRun, type JobStatus, NO_SCHEDULE } from './job.js'
import { type JobMetrics, RUN_RESULTS } from './job-metrics.js'

interface Entry {
  readonly job: Job
  task: ScheduledTask | null
  running: Promise<JobRun> | null
  lastRun: JobRun | null
  lastSuccessAt: string | null
  skipped: number
}

export class JobRunner {
  readonly #entries = new Map<string, Entry>()
  readonly #metrics: JobMetrics
  readonly #log: Logger
  readonly #abort = new AbortController()

  constructor(jobs: readonly Job[], metrics: JobMetrics, log: Logger) {
    this.#metrics = metrics
    this.#log = log
    for (const job of jobs) {
      this.#entries.set(job.name, {
        job,
        task: null,
        running: null,
        lastRun: null,
        lastSuccessAt: null,
        skipped: 0,
      })
      // Every series exists from the start, so a dashboard sees 0 rather than nothing.
      for (const result of RUN_RESULTS) metrics.runs.inc({ job: job.name, result }, 0)
      metrics.rows.inc({ job: job.name }, 0)
    }
  }

  /** Starts the schedules. */
  start(): void {
    // node-cron's own messages (a missed tick) go to our log.
    const logger = {
      info: (message: string) => this.#log.info(message),
      warn: (message: string) => this.#log.warn(message),
      error: (message: string | Error) => this.#log.error({ err: message }, 'node-cron'),
      debug: (message: string | Error) => this.#log.debug({ err: message }, 'node-cron'),
    }
    for (const entry of this.#entries.values()) {
      if (entry.job.schedule === NO_SCHEDULE) continue
      entry.task = cron.schedule(entry.job.schedule, () => this.#tick(entry), {
        name: `job:${entry.job.name}`,
        logger,
      })
    }
  }

  list(): JobStatus[] {
    return [...this.#entries.values()].map((e) => ({
      name: e.job.name,
      schedule: e.job.schedule,
      nextRunAt: e.task?.getNextRun()?.toISOString() ?? null,
      running: e.running !== null,
      lastRun: e.lastRun,
      lastSuccessAt: e.lastSuccessAt,
      skipped: e.skipped,
    }))
  }

  /** Runs a job now and answers its run; JobRunningError while it runs already. */
  runNow(name: string): Promise<JobRun> {
    const entry = this.#entries.get(name)
    if (entry === undefined)
      return Promise.reject(
        new NotFoundError(`no job ${JSON.stringify(name)}: jobs are ${[...this.#entries.keys()].join(', ')}`),
      )
    if (entry.running !== null) return Promise.reject(new JobRunningError(`job ${name} is running now`))
    if (this.#abort.signal.aborted) return Promise.reject(new JobRunningError('shutting down'))
    return this.#start(entry, 'asked')
  }

  async #tick(entry: Entry): Promise<void> {
    if (entry.running !== null || this.#abort.signal.aborted) {
      entry.skipped++
      this.#metrics.runs.inc({ job: entry.job.name, result: 'skipped' })
      this.#log.warn({ job: entry.job.name }, 'job still running at its next scheduled time: tick skipped')
      return
    }
    await this.#start(entry, 'scheduled')
  }

  #start(entry: Entry, trigger: JobRun['trigger']): Promise<JobRun> {
    const running = this.#run(entry, trigger).finally(() => {
      entry.running = null
    })
    entry.running = running
    return running
  }

  /** One run; never rejects. */
  async #run(entry: Entry, trigger: JobRun['trigger']): Promise<JobRun> {
    const job = entry.job.name
    const started = new Date()
    const timer = this.#metrics.duration.startTimer({ job })
    let run: Omit<JobRun, 'finishedAt' | 'durationS'>
    const base = { job, trigger, startedAt: started.toISOString() }
    try {
      const outcome = await entry.job.run(this.#abort.signal)
      const result = this.#abort.signal.aborted ? 'interrupted' : 'success'
      run = { ...base, result, rows: outcome.rows, ...(outcome.detail ? { detail: outcome.detail } : {}) }
    } catch (err) {
      run = { ...base, result: 'failure', rows: 0, error: (err as Error).message ?? String(err) }
      this.#log.error({ err, job }, 'job failed')
    }
    const durationS = timer()
    const finished = new Date()
    const done: JobRun = { ...run, finishedAt: finished.toISOString(), durationS }
    this.#metrics.runs.inc({ job, result: done.result })
    this.#metrics.rows.inc({ job }, done.rows)
    if (done.result === 'success') {
      this.#metrics.lastSuccess.set({ job }, finished.getTime() / 1000)
      entry.lastSuccessAt = done.finishedAt
    }
    entry.lastRun = done
    this.#log.info({ ...done }, 'job run')
    return done
  }

  /** Stops the schedules, interrupts running jobs and waits for them. */
  async close(): Promise<void> {
    this.#abort.abort()
    for (const entry of this.#entries.values()) await entry.task?.destroy()
    await Promise.all([...this.#entries.values()].map((e) => e.running))
  }
}

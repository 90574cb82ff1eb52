/** What a maintenance job is, and what one run of it reports (GET /v1/admin/jobs). */

import type { RunResult } from './job-metrics.js'

/** A cron schedule that never fires: the job runs only when asked. */
export const NO_SCHEDULE = 'off'

export interface JobOutcome {
  /** Rows touched, for job_rows_total. */
  readonly rows: number
  /** Figures of this job's own, shown with the run. */
  readonly detail?: Readonly<Record<string, number>>
}

export interface Job {
  /** In URLs and the `job` label: `[a-z-]+`. */
  readonly name: string
  /** A node-cron expression (5 fields, or 6 with seconds first), or NO_SCHEDULE. */
  readonly schedule: string
  /** One run. `signal` aborts on shutdown: stop at the next safe point and return what was done. */
  run(signal: AbortSignal): Promise<JobOutcome>
}

export interface JobRun {
  readonly job: string
  readonly trigger: 'scheduled' | 'asked'
  /** RFC 3339. */
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationS: number
  readonly result: Exclude<RunResult, 'skipped'>
  readonly rows: number
  readonly detail?: Readonly<Record<string, number>>
  /** Why it failed, with result `failure`. */
  readonly error?: string
}

export interface JobStatus {
  readonly name: string
  readonly schedule: string
  /** RFC 3339; null when unscheduled or stopped. */
  readonly nextRunAt: string | null
  readonly running: boolean
  readonly lastRun: JobRun | null
  /** RFC 3339 of the last run that succeeded; null when none has. */
  readonly lastSuccessAt: string | null
  /** Scheduled ticks skipped since start because the job was still running. */
  readonly skipped: number
}

/** The maintenance jobs (docs/operations.md, "Jobs"): what app.ts and the API use. */

import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ConfigError } from '../core/errors.js'
import type { RetentionLog } from '../store/index.js'
import { createJobMetrics } from './job-metrics.js'
import { retentionJob } from './retention.js'
import { JobRunner } from './runner.js'
import { durationNs, type JobConfig, scheduleProblem } from './schedule.js'

export type { Job, JobOutcome, JobRun, JobStatus } from './job.js'
export { NO_SCHEDULE } from './job.js'
export { RETENTION_SLICE_ROWS, retentionJob } from './retention.js'
export { JobRunner } from './runner.js'
export { DURATION_PATTERN, durationNs, type JobConfig, scheduleProblem } from './schedule.js'

/** The process's jobs, to start() once the server listens; the loader checked the settings (config/load.ts). */
export function createJobs(
  config: JobConfig,
  store: RetentionLog,
  registry: Registry,
  log: Logger,
): JobRunner {
  // Given directly (tests, not through the loader): refused before any timer starts.
  const problem = scheduleProblem(config.retentionSchedule)
  if (problem !== null) throw new ConfigError([`--retention-schedule: ${problem}`])
  return new JobRunner(
    [
      retentionJob(store, {
        schedule: config.retentionSchedule,
        retainRawNs: durationNs(config.retainRaw),
        retainDeadLettersNs: durationNs(config.retainDeadLetters),
      }),
    ],
    createJobMetrics(registry),
    log,
  )
}

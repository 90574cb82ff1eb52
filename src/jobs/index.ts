/** The maintenance jobs (docs/operations.md, "Jobs"): what app.ts and the API use. */

import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { RetentionLog } from '../store/index.js'
import { createJobMetrics } from './job-metrics.js'
import { retentionJob } from './retention.js'
import { JobRunner } from './runner.js'
import { durationNs, type JobConfig } from './schedule.js'

export type { Job, JobOutcome, JobRun, JobStatus } from './job.js'
export { NO_SCHEDULE } from './job.js'
export { RETENTION_SLICE_ROWS, retentionJob } from './retention.js'
export { JobRunner } from './runner.js'
export { checkJobConfig, DURATION_PATTERN, durationNs, type JobConfig } from './schedule.js'

/** The process's jobs, to start() once the server listens. */
export function createJobs(
  config: JobConfig,
  store: RetentionLog,
  registry: Registry,
  log: Logger,
): JobRunner {
  const runner = new JobRunner(
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
  return runner
}

/**
 * The maintenance jobs' metrics (docs/operations.md, "Jobs"), in the
 * process's registry (src/metrics.ts), each labelled by job.
 */

import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/** What a run ended as: the `result` label of job_runs_total. */
export const RUN_RESULTS = ['success', 'failure', 'skipped', 'interrupted'] as const
export type RunResult = (typeof RUN_RESULTS)[number]

export function createJobMetrics(registry: Registry) {
  const registers = [registry]
  return {
    runs: new Counter({
      name: 'job_runs_total',
      help: 'Maintenance job runs by result: skipped is a scheduled tick that came while the job was still running',
      labelNames: ['job', 'result'] as const,
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'job_last_success_timestamp_seconds',
      help: 'When the job last finished a run successfully, epoch seconds',
      labelNames: ['job'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'job_duration_seconds',
      help: 'How long each run of the job took (success, failure or interrupted)',
      labelNames: ['job'] as const,
      buckets: [0.01, 0.1, 1, 10, 60, 300, 1800, 7200],
      registers,
    }),
    rows: new Counter({
      name: 'job_rows_total',
      help: 'Rows the job touched (retention: rows deleted)',
      labelNames: ['job'] as const,
      registers,
    }),
  }
}

export type JobMetrics = ReturnType<typeof createJobMetrics>

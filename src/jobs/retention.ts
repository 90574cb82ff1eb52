/**
 * Retention (issue 24): raw readings older than --retain-raw (by event time)
 * and dead letters older than --retain-dead-letters (by receive time) are
 * deleted, a slice at a time. The store runs one write at a time, so a slice
 * holds ingest's commits only while it runs; those queued meanwhile go
 * before the next slice. The horizon is fixed when the run starts, so a run
 * ends however fast new rows come.
 *
 * DuckDB does not give a deleted row's space back at once: a checkpoint
 * frees the blocks of wholly deleted row groups, later writes reuse them,
 * and the file is cut only where free blocks are at its end
 * (docs/operations.md, "Retention", has what was measured).
 */

import { nowNs } from '../core/telemetry.js'
import type { RetainedTable, RetentionLog } from '../store/index.js'
import type { Job, JobOutcome } from './job.js'

/**
 * Rows one statement deletes at most. Measured (2 shared cores, readings
 * of 4 fields, test/integration/retention-file-size.test.ts): a slice took
 * 20 to 59 ms at the longest, so a commit behind it waits that long at most
 * (docs/operations.md, "Retention").
 */
export const RETENTION_SLICE_ROWS = 20_000

export interface RetentionOptions {
  readonly schedule: string
  /** Readings whose event time is older than this are deleted, ns. */
  readonly retainRawNs: bigint
  /** Dead letters received longer ago than this are deleted, ns. */
  readonly retainDeadLettersNs: bigint
  readonly sliceRows?: number
  /** The clock the horizons are taken from, epoch ns (a test runs simulated days). */
  readonly nowNs?: () => bigint
}

export function retentionJob(store: RetentionLog, options: RetentionOptions): Job {
  const slice = options.sliceRows ?? RETENTION_SLICE_ROWS
  return {
    name: 'retention',
    schedule: options.schedule,
    async run(signal): Promise<JobOutcome> {
      const now = (options.nowNs ?? nowNs)()
      const readings = await deleteOlder(store, 'readings', now - options.retainRawNs, slice, signal)
      const deadLetters = await deleteOlder(
        store,
        'dead_letters',
        now - options.retainDeadLettersNs,
        slice,
        signal,
      )
      return { rows: readings + deadLetters, detail: { readings, deadLetters } }
    },
  }
}

async function deleteOlder(
  store: RetentionLog,
  table: RetainedTable,
  beforeNs: bigint,
  slice: number,
  signal: AbortSignal,
): Promise<number> {
  let deleted = 0
  while (!signal.aborted) {
    const n = await store.deleteOlderThan(table, beforeNs, slice)
    deleted += n
    if (n < slice) break
  }
  return deleted
}

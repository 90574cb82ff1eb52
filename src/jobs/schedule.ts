/** The jobs' settings (src/config/job-options.ts): checked when the configuration is read. */

import cron from 'node-cron'
import { ConfigError } from '../core/errors.js'
import { parseTimeArg } from '../core/time.js'
import { NO_SCHEDULE } from './job.js'

/** A span as the API writes one (`90s`, `15m`, `2h`, `30d`), at least 1 of its unit. */
export const DURATION_PATTERN = /^[1-9][0-9]{0,5}(ms|s|m|h|d)$/

export interface JobConfig {
  readonly retentionSchedule: string
  readonly retainRaw: string
  readonly retainDeadLetters: string
}

/** `30d` in ns: the API's relative times (`-30d`) read the same units. */
export function durationNs(text: string): bigint {
  const before = DURATION_PATTERN.test(text) ? parseTimeArg(`-${text}`, 0n) : null
  if (before === null) throw new ConfigError([`${JSON.stringify(text)} is not a duration such as 30d`])
  return -before
}

/** Why node-cron refuses a schedule; null for one it takes, or `off`. */
export function scheduleProblem(schedule: string): string | null {
  if (schedule === NO_SCHEDULE) return null
  const check = cron.validateDetailed(schedule)
  if (check.valid) return null
  const why = check.errors.map((e) => e.message).join('; ') || 'expected 5 or 6 fields'
  return `${JSON.stringify(schedule)} is not a cron expression (${why}), or off`
}

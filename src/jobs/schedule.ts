/** The jobs' settings (src/config/job-options.ts), checked before anything opens. */

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

/** Throws ConfigError naming each flag whose value node-cron or the duration reader refuses. */
export function checkJobConfig(config: JobConfig): void {
  const problems: string[] = []
  const schedule = config.retentionSchedule
  if (schedule !== NO_SCHEDULE) {
    const check = cron.validateDetailed(schedule)
    if (!check.valid)
      problems.push(
        `--retention-schedule: ${JSON.stringify(schedule)} is not a cron expression (${check.errors.map((e) => e.message).join('; ') || 'expected 5 or 6 fields'}), or off`,
      )
  }
  for (const [flag, value] of [
    ['retain-raw', config.retainRaw],
    ['retain-dead-letters', config.retainDeadLetters],
  ] as const)
    if (!DURATION_PATTERN.test(value))
      problems.push(`--${flag}: ${JSON.stringify(value)} is not a duration such as 30d`)
  if (problems.length > 0) throw new ConfigError(problems)
}

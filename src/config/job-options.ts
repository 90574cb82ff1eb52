/**
 * The rows of the option table (options.ts) for the maintenance jobs
 * (src/jobs/, docs/operations.md "Jobs" and "Retention").
 */

import { DURATION_PATTERN, scheduleProblem } from '../jobs/index.js'
import { type Option, TEXT } from './option-row.js'

const DURATION = { type: 'string', pattern: DURATION_PATTERN.source } as const

export const JOB_OPTIONS = {
  'retention-schedule': {
    key: 'retentionSchedule',
    schema: TEXT,
    default: '17 * * * *',
    accepted: 'a cron expression (`17 * * * *`) or off',
    check: scheduleProblem,
    description:
      'when the `retention` job runs: a cron expression (5 fields, or 6 with seconds first; local time), or `off` to run it only when asked (`npm run job -- run retention`). A run still going at the next time skips that time',
  },
  'retain-raw': {
    key: 'retainRaw',
    schema: DURATION,
    default: '30d',
    accepted: 'a duration: a number and ms, s, m, h or d (`30d`)',
    description:
      'raw readings whose event time is older than this are deleted by the `retention` job. See [Retention](operations.md#retention)',
  },
  'retain-dead-letters': {
    key: 'retainDeadLetters',
    schema: DURATION,
    default: '30d',
    accepted: 'a duration: a number and ms, s, m, h or d (`30d`)',
    description: 'dead letters received longer ago than this are deleted by the `retention` job',
  },
} as const satisfies Record<string, Option>

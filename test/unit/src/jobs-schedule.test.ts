/** The jobs' settings: schedules node-cron takes, durations the API's units read, both refused by the loader. */

import t from 'tap'
import { readCommandLine } from '../../../src/config.js'
import { ConfigError } from '../../../src/core/errors.js'
import { durationNs, scheduleProblem } from '../../../src/jobs/index.js'

t.test('jobs - durations in the units of the API', async (t) => {
  t.equal(durationNs('30d'), 30n * 86_400_000_000_000n)
  t.equal(durationNs('36h'), 36n * 3_600_000_000_000n)
  t.equal(durationNs('90s'), 90_000_000_000n)
  t.equal(durationNs('250ms'), 250_000_000n)
  for (const bad of ['0d', '30', 'd', '-1d', '30 d', '1w']) t.throws(() => durationNs(bad), ConfigError, bad)
})

t.test('jobs - schedules node-cron takes, or off', async (t) => {
  for (const good of ['17 * * * *', 'off', '*/10 * * * * *', '0 3 * * sun'])
    t.equal(scheduleProblem(good), null, good)
  t.equal(
    scheduleProblem('61 * * * *'),
    '"61 * * * *" is not a cron expression (61 is a invalid expression for minute), or off',
  )
  t.match(scheduleProblem('hourly please'), /not a cron expression/)
})

t.test('jobs - the loader refuses a bad schedule or duration, naming the flag', async (t) => {
  const read = (...argv: string[]) => readCommandLine(argv, {})
  t.equal(read().config.retentionSchedule, '17 * * * *')
  t.equal(read().config.retainRaw, '30d')
  t.equal(read('--retention-schedule', 'off', '--retain-raw', '90d').config.retainRaw, '90d')
  t.throws(() => read('--retention-schedule', '61 * * * *'), {
    name: 'ConfigError',
    message: /--retention-schedule: "61 \* \* \* \*" is not a cron expression/,
  })
  t.throws(() => readCommandLine([], { RETENTION_SCHEDULE: 'hourly please' }), /--retention-schedule/)
  t.throws(() => read('--retain-raw', '30 days'), /--retain-raw: "30 days" must be a duration/)
  t.throws(() => read('--retain-dead-letters', '0h'), /--retain-dead-letters/)
})

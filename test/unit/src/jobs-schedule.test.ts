/** The jobs' settings: schedules node-cron takes, durations the API's units read. */

import t from 'tap'
import { ConfigError } from '../../../src/core/errors.js'
import { checkJobConfig, durationNs } from '../../../src/jobs/index.js'

const good = { retentionSchedule: '17 * * * *', retainRaw: '30d', retainDeadLetters: '36h' }

t.test('jobs - durations in the units of the API', async (t) => {
  t.equal(durationNs('30d'), 30n * 86_400_000_000_000n)
  t.equal(durationNs('36h'), 36n * 3_600_000_000_000n)
  t.equal(durationNs('90s'), 90_000_000_000n)
  t.equal(durationNs('250ms'), 250_000_000n)
  for (const bad of ['0d', '30', 'd', '-1d', '30 d', '1w']) t.throws(() => durationNs(bad), ConfigError, bad)
})

t.test('jobs - a schedule node-cron refuses stops the start, naming the flag', async (t) => {
  t.doesNotThrow(() => checkJobConfig(good))
  t.doesNotThrow(() => checkJobConfig({ ...good, retentionSchedule: 'off' }))
  t.doesNotThrow(() => checkJobConfig({ ...good, retentionSchedule: '*/10 * * * * *' }))
  t.throws(() => checkJobConfig({ ...good, retentionSchedule: '61 * * * *' }), {
    name: 'ConfigError',
    message:
      /--retention-schedule: "61 \* \* \* \*" is not a cron expression \(61 is a invalid expression for minute\)/,
  })
  t.throws(() => checkJobConfig({ ...good, retentionSchedule: 'hourly please' }), /--retention-schedule/)
  t.throws(() => checkJobConfig({ ...good, retainRaw: '30 days' }), /--retain-raw: "30 days"/)
  t.throws(() => checkJobConfig({ ...good, retainDeadLetters: '0h' }), /--retain-dead-letters/)
})

/**
 * Audit lines are rate-limited so that a flood of bad logins cannot fill
 * the disk, and the lines held back are counted in the next one that goes out.
 */

import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { AuditLog } from '../../../broker/auth-audit.js'

t.test('audit - a burst, then a rate; what was held back is said in the next line', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const log = pino(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()))
        done()
      },
    }),
  )
  const audit = new AuditLog(log, 5, 20)
  const fields = { clientId: 'c', user: 'u', remote: '127.0.0.1', reason: 'bad_password' }
  for (let i = 0; i < 50; i++) audit.record('mqtt_connect_refused', fields)
  t.ok(lines.length >= 5 && lines.length <= 6, `the burst only: ${lines.length} lines`)
  t.match(lines[0], { event: 'mqtt_connect_refused', level: 40, ...fields })
  t.notOk('suppressed' in lines[0]!)
  const before = lines.length
  await new Promise((resolve) => setTimeout(resolve, 200))
  audit.record('mqtt_publish_denied', { clientId: 'c', user: 'u', remote: null, topic: 'a' })
  t.equal(lines.length, before + 1, 'tokens came back with time')
  t.equal(lines.at(-1)?.suppressed, 50 - before, 'and the line counts the ones held back')
  t.equal(lines.at(-1)?.event, 'mqtt_publish_denied')
})

/**
 * An outside client: mosquitto_pub (Debian mosquitto-clients) publishes a
 * CBOR file made by an independent encoder, and the reading comes back from
 * GET /v1/telemetry.
 */

import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startTestApp, VECTORS_DIR } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { readings } from '../helpers/http.js'

t.test('e2e - mosquitto_pub publishes a wrapped CBOR file, GET /v1/telemetry returns it', async (t) => {
  if (!haveProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return
  const app = await startTestApp(t)
  // Asynchronously: the broker runs in this process and must keep serving.
  const pub = await promisify(execFile)(
    'mosquitto_pub',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(app.mqttPort),
      '-q',
      '1',
      '-i',
      'meter-7',
      '-t',
      'devices/meter-7/telemetry',
      '-f',
      join(VECTORS_DIR, '02-wrapped.cbor'),
    ],
    { timeout: 10_000 },
  )
  t.equal(pub.stderr, '', 'mosquitto_pub reports no error')
  const rows = await readings(app.httpPort, 'meter-7')
  t.equal(rows.length, 1)
  t.equal(rows[0]?.seq, 1)
  t.equal(rows[0]?.ts, '2025-11-26T00:00:00.000000000Z')
  t.same(rows[0]?.fields, { temp: 21.5 })
})

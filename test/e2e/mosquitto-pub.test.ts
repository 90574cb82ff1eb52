/**
 * An outside client: mosquitto_pub (Debian mosquitto-clients) publishes a
 * CBOR file made by an independent encoder, and the reading comes back from
 * GET /v1/telemetry.
 */

import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startTestApp, tempDir, VECTORS_DIR } from '../helpers/app.js'
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

t.test('e2e - mosquitto_pub -f of a JSON file saved with a BOM and a final newline is stored', async (t) => {
  if (!haveProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return
  const app = await startTestApp(t)
  const file = join(tempDir(t, 'tlm-bom-'), 'reading.json')
  writeFileSync(file, '\uFEFF{"v":1,"seq":1,"ts":1764115200000,"m":{"temp":21.5}}\n')
  const args = ['-h', '127.0.0.1', '-p', String(app.mqttPort), '-q', '1', '-i', 'bom-1']
  const pub = await promisify(execFile)(
    'mosquitto_pub',
    [...args, '-t', 'devices/bom-1/telemetry', '-f', file],
    { timeout: 10_000 },
  )
  t.equal(pub.stderr, '', 'mosquitto_pub reports no error')
  const rows = await readings(app.httpPort, 'bom-1')
  t.equal(rows.length, 1, 'stored, not a dead letter')
  t.same(rows[0]?.fields, { temp: 21.5 })
})

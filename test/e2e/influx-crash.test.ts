/**
 * SIGKILL during an InfluxDB outage: the readings acknowledged while
 * InfluxDB was away are only in the local store; the app is killed, then
 * InfluxDB and the app come back, and the backlog drains completely, each
 * reading once.
 */

import mqtt from 'mqtt'
import t from 'tap'
import { encodeMessage } from '../../simulators/encode.js'
import { tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { metric } from '../helpers/http.js'
import { startInfluxd } from '../helpers/influxd.js'
import { startServer } from '../helpers/process.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('influx - the app killed during an outage drains its backlog after restart', async (t) => {
  if (!haveProgram(t, 'influxd', 'influxdb')) return
  const influx = await startInfluxd(t)
  await influx.stop()
  const dataDir = tempDir(t)
  const args = ['--influx-url', influx.url, '--influx-db', influx.db]

  const first = await startServer(dataDir, args)
  t.teardown(() => first.child.kill('SIGKILL'))
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, { reconnectPeriod: 0 })
  const pending: Promise<unknown>[] = []
  for (let seq = 1; seq <= 2000; seq++)
    pending.push(
      c.publishAsync('devices/k/telemetry', encodeMessage({ seq, fields: { v: seq } }), { qos: 1 }),
    )
  await Promise.all(pending)
  t.equal(await metric(first.httpPort, 'influx_backlog_readings'), 2000, 'all 2,000 acknowledged and waiting')
  first.child.kill('SIGKILL')
  t.equal(await first.exited, 'SIGKILL')
  await c.endAsync(true)

  await influx.start()
  const second = await startServer(dataDir, args)
  t.teardown(() => second.child.kill('SIGKILL'))
  const deadline = Date.now() + 60_000
  while ((await metric(second.httpPort, 'influx_backlog_readings')) !== 0 && Date.now() < deadline)
    await sleep(200)
  t.equal(await metric(second.httpPort, 'influx_backlog_readings'), 0, 'drained after the restart')
  const [all] = await influx.query('SELECT count("@seq") FROM telemetry')
  const [distinct] = await influx.query('SELECT count(distinct("@seq")) FROM telemetry')
  t.equal(Number(all!.values[0]![1]), 2000, 'every reading in InfluxDB')
  t.equal(Number(distinct!.values[0]![1]), 2000, 'once each')
})

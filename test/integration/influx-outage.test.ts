/**
 * Forwarding to a real InfluxDB 1.x (Debian's influxd, started here on free
 * ports) through an outage of 60 s while devices publish: every
 * acknowledged reading arrives once. Apart from influx.test.ts, so that each
 * file stays well within tap's time limit.
 */

import t from 'tap'
import { encodeMessage } from '../../simulators/encode.js'
import { startTestApp } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { metric } from '../helpers/http.js'
import { client, seriesCount as count, drained, influxConfig, startInfluxd } from '../helpers/influxd.js'
import { sleep } from '../helpers/process.js'

t.test(
  'influx - an outage of 60 s while devices publish: every acknowledged reading arrives once',
  async (t) => {
    if (!haveProgram(t, 'influxd', 'influxdb')) return
    const influx = await startInfluxd(t)
    const app = await startTestApp(t, influxConfig(influx))
    const c = await client(t, app.mqttPort, 'steady')
    let seq = 0
    let acked = 0
    let publishing = true
    const lagSeen: number[] = []
    const publisher = (async () => {
      while (publishing) {
        await c.publishAsync('devices/steady/telemetry', encodeMessage({ seq: ++seq, fields: { v: seq } }), {
          qos: 1,
        })
        acked++
        await sleep(20)
      }
    })()
    await sleep(3_000)
    await influx.stop()
    const outageStart = Date.now()
    while (Date.now() - outageStart < 60_000) {
      await sleep(5_000)
      lagSeen.push(await metric(app.httpPort, 'influx_lag_seconds'))
    }
    await influx.start()
    await sleep(3_000)
    publishing = false
    await publisher
    await drained(app.httpPort, 120_000)

    t.ok(Math.max(...lagSeen) >= 55, `the lag rose during the outage (max ${Math.max(...lagSeen)} s)`)
    t.equal(await metric(app.httpPort, 'influx_lag_seconds'), 0, 'and is back to zero')
    t.ok(acked > 1000, `${acked} readings acknowledged`)
    t.equal(await count(influx), acked, 'every acknowledged reading is in InfluxDB')
    const [distinct] = await influx.query(`SELECT count(distinct("@seq")) FROM telemetry`)
    t.equal(Number(distinct!.values[0]![1]), acked, 'once each')
    t.ok((await metric(app.httpPort, 'influx_write_retries_total')) > 0, 'the failures were retried')
  },
)

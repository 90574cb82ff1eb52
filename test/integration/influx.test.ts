/**
 * Forwarding to a real InfluxDB 1.x (Debian's influxd, started here on free
 * ports): every reading arrives with its types, tags and time; thousands of
 * readings of one device in the same milliseconds all arrive; past the
 * backlog bound, PUBACKs wait and /readyz says why (the outage of 60 s is in
 * influx-outage.test.ts, history in influx-history.test.ts: each file well
 * within tap's time limit).
 */

import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { startTestApp } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { getJson, metric } from '../helpers/http.js'
import { client, seriesCount as count, drained, influxConfig, startInfluxd } from '../helpers/influxd.js'
import { sleep } from '../helpers/process.js'

t.test('influx - readings arrive with their types, tags and times', async (t) => {
  if (!haveProgram(t, 'influxd', 'influxdb')) return
  const influx = await startInfluxd(t)
  const app = await startTestApp(t, influxConfig(influx))
  const c = await client(t, app.mqttPort)
  const ts = Date.now() - 5_000
  await c.publishAsync(
    'devices/m1/telemetry',
    encodeMessage({
      seq: 1,
      boot: 3,
      ts,
      fields: { temp: float(21.5), count: 7, on: true, whole: float(20) },
      tags: { site: 'north', rack: 'r9' },
    }),
    { qos: 1 },
  )
  await c.publishAsync('devices/m2/telemetry', encodeMessage({ seq: 1, ts: ts + 1, fields: { count: -3 } }), {
    qos: 1,
  })
  await drained(app.httpPort)

  const [m1] = await influx.query(`SELECT * FROM telemetry WHERE device = 'm1'`)
  t.ok(m1, 'm1 is in InfluxDB')
  const row = Object.fromEntries(m1!.columns.map((c, i) => [c, m1!.values[0]![i]]))
  t.match(row, {
    temp: 21.5,
    count: 7,
    on: true,
    whole: 20,
    site: 'north',
    device: 'm1',
    '@boot': 3,
    '@seq': 1,
    '@idx': 0,
  })
  t.notOk('rack' in row, 'a tag not on the allow-list is not written')
  t.equal(row['@ts'], BigInt(ts) * 1_000_000n, '@ts: the corrected event time, ns')
  t.equal(
    BigInt(row.time as number),
    BigInt(ts) * 1_000_000n + 1n,
    'time: its millisecond plus the tie-breaker (seq 1)',
  )
  // InfluxDB reports each field's type: the pinned ones.
  const types = await influx.query('SHOW FIELD KEYS FROM telemetry')
  const typeOf = Object.fromEntries(types[0]!.values.map(([k, v]) => [k, v]))
  t.match(typeOf, { temp: 'float', count: 'integer', on: 'boolean', whole: 'float', '@seq': 'integer' })
  t.equal(await count(influx, `WHERE device = 'm2'`), 1)
  t.equal(await metric(app.httpPort, 'influx_readings_forwarded_total'), 2)
})

t.test('influx - thousands of readings of one device in the same milliseconds all arrive', async (t) => {
  if (!haveProgram(t, 'influxd', 'influxdb')) return
  const influx = await startInfluxd(t)
  const app = await startTestApp(t, influxConfig(influx))
  const c = await client(t, app.mqttPort)
  const ts = Date.now() - 10_000
  const pending: Promise<unknown>[] = []
  // 3,000 messages over 3 device milliseconds, and a batch of 5 samples sharing one of them.
  for (let seq = 1; seq <= 3000; seq++)
    pending.push(
      c.publishAsync(
        'devices/burst/telemetry',
        encodeMessage({ seq, ts: ts + (seq % 3), fields: { v: seq } }),
        { qos: 1 },
      ),
    )
  await Promise.all(pending)
  await drained(app.httpPort)
  t.equal(await count(influx), 3000, 'every one is a point of its own')
  const [distinct] = await influx.query(`SELECT count(distinct("@seq")) FROM telemetry`)
  t.equal(Number(distinct!.values[0]![1]), 3000)
})

t.test(
  'influx - past the backlog bound, PUBACKs wait and /readyz says why; nothing is dropped',
  async (t) => {
    if (!haveProgram(t, 'influxd', 'influxdb')) return
    const influx = await startInfluxd(t)
    await influx.stop()
    // 1,024 bytes: about five lines of the forwarder's first estimate (200 bytes).
    const app = await startTestApp(t, influxConfig(influx, { maxBacklogBytes: 1024 }))
    const c = await client(t, app.mqttPort, 'held')
    const acks: number[] = []
    const pending: Promise<unknown>[] = []
    // One at a time, as a device with a small in-flight window would: the
    // bound is checked as each message arrives, against what is committed.
    for (let seq = 1; seq <= 20; seq++) {
      const p = c
        .publishAsync('devices/held/telemetry', encodeMessage({ seq, fields: { v: seq } }), { qos: 1 })
        .then(() => acks.push(seq))
      pending.push(p)
      await Promise.race([p, sleep(200)])
    }
    await sleep(1_000)
    t.ok(acks.length > 0 && acks.length < 20, `${acks.length} of 20 acknowledged while InfluxDB is away`)
    const ready = await getJson<{ code: string; message: string }>(app.httpPort, '/readyz')
    t.equal(ready.status, 503)
    t.match(ready.body.message, /over --max-backlog-bytes 1024: ingest is held back/)

    await influx.start()
    await Promise.all(pending)
    t.equal(acks.length, 20, 'once InfluxDB is back, the rest are acknowledged')
    await drained(app.httpPort)
    t.equal(await count(influx), 20, 'all 20 in InfluxDB')
    t.equal((await getJson(app.httpPort, '/readyz')).status, 200, 'and ready again')
  },
)

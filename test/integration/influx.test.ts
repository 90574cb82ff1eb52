/**
 * Forwarding to a real InfluxDB 1.x (Debian's influxd, started here on free
 * ports): every reading arrives with its types, tags and time; thousands of
 * readings of one device in the same milliseconds all arrive; an outage of
 * 60 s while devices publish loses nothing; past the backlog bound, PUBACKs
 * wait and /readyz says why.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import type { Config } from '../../src/config.js'
import { DEFAULT_MAX_BACKLOG_BYTES } from '../../src/config.js'
import { InfluxHistory } from '../../src/influx/history.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { getJson, metric } from '../helpers/http.js'
import { type Influxd, startInfluxd } from '../helpers/influxd.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function influxConfig(
  influx: Influxd,
  overrides: Partial<NonNullable<Config['influx']>> = {},
): Partial<Config> {
  return {
    influx: {
      url: influx.url,
      version: 'auto',
      token: null,
      org: null,
      bucket: null,
      db: influx.db,
      rp: null,
      measurement: 'telemetry',
      tags: ['site'],
      maxBacklogBytes: DEFAULT_MAX_BACKLOG_BYTES,
      ...overrides,
    },
  }
}

async function client(t: Teardown, port: number, id = `c-${Math.random()}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: id, reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  return c
}

/** Waits, bounded, until the forwarder has nothing left to send. */
async function drained(port: number, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs
  while ((await metric(port, 'influx_backlog_readings')) !== 0) {
    if (Date.now() > deadline) throw new Error(`backlog not drained in ${boundMs} ms`)
    await sleep(100)
  }
}

async function count(influx: Influxd, where = ''): Promise<number> {
  const series = await influx.query(`SELECT count("@seq") FROM telemetry ${where}`)
  return Number(series[0]?.values[0]?.[1] ?? 0)
}

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

t.test('influx - history from InfluxDB: the same windows and readings as from the local store', async (t) => {
  if (!haveProgram(t, 'influxd', 'influxdb')) return
  const influx = await startInfluxd(t)
  const featuresPath = join(tempDir(t), 'features.json')
  writeFileSync(
    featuresPath,
    JSON.stringify({
      features: [
        {
          name: 't10',
          field: 'temp',
          window: { size: '10s' },
          aggregations: ['count', 'mean', 'min', 'max', 'sum', 'std', 'first', 'last', 'rate'],
          grace: '2s',
        },
        {
          name: 'n20',
          field: 'n',
          window: { size: '20s', hop: '5s' },
          aggregations: ['sum', 'count'],
          grace: '1s',
        },
        { name: 'door', field: 'door', window: { size: '10s' }, aggregations: ['mean'] },
      ],
    }),
  )
  const dataDir = tempDir(t)
  const local = await startTestApp(t, { ...influxConfig(influx), dataDir, featuresPath })
  const c = await client(t, local.mqttPort)
  // Two devices over 60 s of the past: a reading every 400 ms, every 9th
  // sent 3 s late (past t10's grace), ties, and a batch now and then.
  const start = Math.floor((Date.now() - 120_000) / 10_000) * 10_000
  for (const device of ['h1', 'h2'])
    for (let seq = 1; seq <= 150; seq++) {
      const ts = start + seq * 400 - (seq % 9 === 0 ? 3_000 : 0) - (seq % 13 === 0 ? 400 : 0)
      await c.publishAsync(
        `devices/${device}/telemetry`,
        encodeMessage({
          seq,
          ts,
          fields: { temp: float(20.25 + Math.sin(seq) * 3), n: seq % 17, door: seq % 3 === 0 },
          tags: { site: `s${seq % 2}` },
        }),
        { qos: 1 },
      )
    }
  await drained(local.httpPort)
  const range = `device=h1,h2&from=${new Date(start - 30_000).toISOString()}&to=${new Date(start + 90_000).toISOString()}`
  const fromLocal = await getJson<{ windows: unknown[] }>(local.httpPort, `/v1/windows?${range}`)
  const asOf = `&as_of=${new Date(Date.now() - 1).toISOString()}`
  const fromLocalAsOf = await getJson<{ windows: unknown[] }>(local.httpPort, `/v1/windows?${range}${asOf}`)
  const readingsLocal = await getJson<{ readings: unknown[] }>(
    local.httpPort,
    `/v1/telemetry?${range}&limit=1000`,
  )
  await local.close()

  const remote = await startTestApp(t, {
    ...influxConfig(influx),
    dataDir,
    featuresPath,
    historySource: 'influx',
  })
  const fromInflux = await getJson<{ windows: unknown[] }>(remote.httpPort, `/v1/windows?${range}`)
  t.equal(fromInflux.status, 200)
  t.ok(fromLocal.body.windows.length > 20, `${fromLocal.body.windows.length} windows`)
  t.same(fromInflux.body.windows, fromLocal.body.windows, 'every window, every value: equal')
  const fromInfluxAsOf = await getJson<{ windows: unknown[] }>(remote.httpPort, `/v1/windows?${range}${asOf}`)
  t.same(fromInfluxAsOf.body.windows, fromLocalAsOf.body.windows, 'as_of too')

  const readingsInflux = await getJson<{ readings: unknown[] }>(
    remote.httpPort,
    `/v1/telemetry?${range}&limit=1000`,
  )
  const byKey = (rows: unknown[]) =>
    [...(rows as Array<{ device: string; seq: number }>)].sort((a, b) =>
      a.device === b.device ? a.seq - b.seq : a.device < b.device ? -1 : 1,
    )
  t.equal(readingsInflux.body.readings.length, 300)
  t.same(byKey(readingsInflux.body.readings), byKey(readingsLocal.body.readings), 'the same 300 readings')

  const parquet = await fetch(`http://127.0.0.1:${remote.httpPort}/v1/windows?${range}&format=parquet`)
  t.equal(parquet.status, 200)
  t.equal(Number(parquet.headers.get('x-rows')), fromLocal.body.windows.length, 'Parquet from InfluxDB too')
})

t.test('influx - history pages that end inside one timestamp lose and repeat nothing', async (t) => {
  if (!haveProgram(t, 'influxd', 'influxdb')) return
  const influx = await startInfluxd(t)
  // 30 devices, same millisecond, same seq: 30 points with one time, and 10 more a millisecond later.
  const ts = 1_764_115_200_000_000_000n
  const line = (device: string, seq: number, t: bigint) =>
    `telemetry,device=${device} v=${seq}i,@boot=0i,@seq=${seq}i,@idx=0i,@ts=${t}i,@recv=${t}i,@stored=${t + BigInt(seq)}i,@newest=${t}i,@offset=0i ${t + BigInt(seq)}`
  const lines = [
    ...Array.from({ length: 30 }, (_, i) => line(`d${i}`, 1, ts)),
    ...Array.from({ length: 10 }, (_, i) => line(`d${i}`, 2, ts + 1_000_000n)),
  ]
  const res = await fetch(`${influx.url}/write?db=${influx.db}&precision=ns`, {
    method: 'POST',
    body: lines.join('\n'),
  })
  t.equal(res.status, 204)
  const config = influxConfig(influx).influx!
  const history = new InfluxHistory(config, () => [{ name: 'v', kind: 'int' }], tempDir(t), 7)
  const got: string[] = []
  for await (const rows of history.readings({
    devices: Array.from({ length: 30 }, (_, i) => `d${i}`),
    fromNs: ts - 1_000_000n,
    toNs: ts + 10_000_000n,
    fields: null,
    limit: 1000,
  }))
    for (const r of rows) got.push(`${r.device}/${r.seq}`)
  t.equal(got.length, 40, 'pages of 7 over 30 points of one time and 10 of the next')
  t.equal(new Set(got).size, 40, 'none twice')
})

/**
 * History from a real InfluxDB 1.x (Debian's influxd, started here on free
 * ports): the same windows and readings as from the local store, and pages
 * that end inside one timestamp lose and repeat nothing. Apart from
 * influx.test.ts, so that each file stays well within tap's time limit.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { InfluxHistory } from '../../src/influx/history.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { getJson } from '../helpers/http.js'
import { client, drained, influxConfig, startInfluxd } from '../helpers/influxd.js'

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

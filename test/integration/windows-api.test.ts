/**
 * GET /v1/windows beyond parity (windows-parity.test.ts): what as_of
 * guarantees, every format read back by an independent reader (DuckDB's
 * own Parquet reader, csv-parse for CSV), Parquet of raw readings, and a 400
 * naming the parameter for every bad one.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { parse } from 'csv-parse/sync'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { formatRfc3339Ns } from '../../src/core/time.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { getJson } from '../helpers/http.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

const FEATURES = {
  features: [
    {
      name: 'temp_10s',
      field: 'temp',
      window: { size: '10s' },
      aggregations: ['count', 'mean', 'min', 'max', 'sum', 'std', 'first', 'last', 'rate'],
      grace: '1m',
    },
    {
      name: 'n_20s',
      field: 'n',
      window: { size: '20s', hop: '10s' },
      aggregations: ['sum', 'count'],
      grace: '1m',
    },
  ],
}

type Row = Record<string, string | number | null>

async function app(t: Teardown) {
  const featuresPath = join(tempDir(t), 'features.json')
  writeFileSync(featuresPath, JSON.stringify(FEATURES))
  return startTestApp(t, { featuresPath })
}

async function client(t: Teardown, port: number): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `w-${Math.random()}`,
    reconnectPeriod: 0,
  })
  t.teardown(() => c.endAsync(true))
  return c
}

/** Publishes one reading with device time tsMs at QoS 1; resolves once it is stored. */
function publish(c: MqttClient, device: string, seq: number, tsMs: number, fields: Record<string, number>) {
  const m = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, k === 'temp' ? float(v) : v]))
  return c.publishAsync(`devices/${device}/telemetry`, encodeMessage({ seq, boot: 1, ts: tsMs, fields: m }), {
    qos: 1,
  })
}

/** The start of a 10 s window well behind now, so that nothing is in the future. */
function pastWindow(): number {
  return Math.floor((Date.now() - 40_000) / 10_000) * 10_000
}

const iso = (ms: number) => new Date(ms).toISOString()

async function windows(port: number, query: string): Promise<Row[]> {
  const res = await getJson<{ windows: Row[] }>(port, `/v1/windows?${query}`)
  if (res.status !== 200)
    throw new Error(`GET /v1/windows?${query}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.windows
}

t.test(
  'windows - as_of counts only the readings stored by then, late and out-of-order ones included',
  async (t) => {
    const a = await app(t)
    const c = await client(t, a.mqttPort)
    const w = pastWindow()
    await publish(c, 'dev', 1, w + 1_000, { temp: 1.5 })
    await publish(c, 'dev', 2, w + 2_000, { temp: 2.5 })
    await new Promise((resolve) => setTimeout(resolve, 5))
    const asOf = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 5))
    // Both arrive after as_of: one out of order into the first window (within
    // grace, so the live stream counts it), one in the next window.
    await publish(c, 'dev', 3, w + 500, { temp: 100.5 })
    await publish(c, 'dev', 4, w + 12_000, { temp: 7.5 })

    const range = `device=dev&feature=temp_10s&from=${iso(w)}&to=${iso(w + 30_000)}`
    const then = await windows(a.httpPort, `${range}&as_of=${asOf}`)
    t.same(
      then.map((r) => [r.window_end, r.temp_count_10s, r.temp_mean_10s, r.temp_first_10s, r.temp_last_10s]),
      [[iso(w + 10_000).replace('Z', '000000Z'), 2, 2, 1.5, 2.5]],
      'as of then: the first two readings only',
    )
    const now = await windows(a.httpPort, range)
    t.same(
      now.map((r) => [r.window_end, r.temp_count_10s, r.temp_min_10s, r.temp_first_10s]),
      [
        [iso(w + 10_000).replace('Z', '000000Z'), 3, 1.5, 100.5],
        [iso(w + 20_000).replace('Z', '000000Z'), 1, 7.5, 7.5],
      ],
      'without as_of: every reading',
    )
    t.equal(now[0]!.temp_mean_10s, (1.5 + 2.5 + 100.5) / 3)
    t.equal(now[0]!.temp_rate_10s, (2.5 - 100.5) / 1.5, 'rate: last minus first over their 1.5 s')
    const before = await windows(a.httpPort, `${range}&as_of=${iso(asOf - 60_000)}`)
    t.same(before, [], 'as of a time before any reading: nothing')
  },
)

t.test('windows - JSON, NDJSON, CSV and Parquet hold the same rows, read back independently', async (t) => {
  const a = await app(t)
  const c = await client(t, a.mqttPort)
  const w = pastWindow()
  let seq = 0
  for (const device of ['d1', 'd2'])
    for (let k = 0; k < 12; k++)
      await publish(c, device, ++seq, w + k * 2_500, { temp: 20.25 + k * 0.5, n: k })
  const query = `device=d1,d2&from=${iso(w - 10_000)}&to=${iso(w + 40_000)}`
  const json = await windows(a.httpPort, query)
  t.equal(json.length, 8, 'two devices × 4 window ends (temp_10s ends at 3 of them, n_20s at all 4)')
  const columns = ['device', 'window_end', ...Object.keys(json[0]!).slice(2)]
  t.same(columns.slice(0, 4), ['device', 'window_end', 'temp_count_10s', 'temp_mean_10s'])

  const get = (format: string) => fetch(`http://127.0.0.1:${a.httpPort}/v1/windows?${query}&format=${format}`)

  const ndjson = await (await get('ndjson')).text()
  t.same(
    ndjson
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line)),
    json,
    'NDJSON: one JSON row per line, the same rows',
  )

  const csvRes = await get('csv')
  t.match(csvRes.headers.get('content-type'), /^text\/csv/)
  const csv = parse(await csvRes.text(), {
    columns: true,
    cast: (v, ctx) => (ctx.header ? v : castCsv(v, ctx.column as string)),
  })
  t.same(csv, json, 'CSV through csv-parse: the same rows')

  const parquetRes = await get('parquet')
  t.equal(parquetRes.headers.get('content-type'), 'application/vnd.apache.parquet')
  const file = join(tempDir(t), 'w.parquet')
  writeFileSync(file, Buffer.from(await parquetRes.arrayBuffer()))
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  t.teardown(() => {
    conn.closeSync()
    db.closeSync()
  })
  const schema = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRowsJS()
  t.same(
    schema.slice(0, 3).map((r) => [r[0], r[1]]),
    [
      ['device', 'VARCHAR'],
      ['window_end', 'TIMESTAMP_NS'],
      ['temp_count_10s', 'BIGINT'],
    ],
    'Parquet types: window_end a nanosecond timestamp (pandas datetime64[ns])',
  )
  const read = await conn.runAndReadAll(
    `SELECT * EXCLUDE (window_end), epoch_ns(window_end) AS end_ns FROM read_parquet('${file}')`,
  )
  const names = read.columnNames()
  const parquet = read.getRowsJS().map((r) => {
    const row: Row = {}
    names.forEach((name, i) => {
      const v = r[i]
      if (name === 'end_ns') row.window_end = formatRfc3339Ns(v as bigint)
      else row[name] = typeof v === 'bigint' ? Number(v) : (v as string | number | null)
    })
    return row
  })
  t.same(
    parquet.map((r) => columns.map((c) => r[c])),
    json.map((r) => columns.map((c) => r[c])),
    'Parquet through DuckDB read_parquet: the same rows, same bits',
  )

  // Raw readings as Parquet too.
  const raw = await fetch(
    `http://127.0.0.1:${a.httpPort}/v1/telemetry?device=d1&from=${iso(w - 1)}&to=${iso(w + 60_000)}&format=parquet`,
  )
  t.equal(raw.status, 200)
  const rawFile = join(tempDir(t), 'r.parquet')
  writeFileSync(rawFile, Buffer.from(await raw.arrayBuffer()))
  const rows = (
    await conn.runAndReadAll(`SELECT seq, temp, n, epoch_ns(ts) FROM read_parquet('${rawFile}') ORDER BY seq`)
  ).getRowsJS()
  t.same(
    rows.map((r) => [Number(r[0]), r[1], Number(r[2]), r[3]]),
    Array.from({ length: 12 }, (_, k) => [k + 1, 20.25 + k * 0.5, k, BigInt(w + k * 2_500) * 1_000_000n]),
    'readings as Parquet: every reading, its fields and its time',
  )
})

t.test('windows - late=include adds the readings that came after their window closed', async (t) => {
  const featuresPath = join(tempDir(t), 'features.json')
  const grace0 = { ...FEATURES.features[0]!, grace: '0s' }
  writeFileSync(featuresPath, JSON.stringify({ features: [grace0] }))
  const a = await startTestApp(t, { featuresPath })
  const c = await client(t, a.mqttPort)
  const w = pastWindow()
  // Two readings in [w, w+10s); three 15 s on close it (a step ahead of the
  // receive clock takes three readings: bridge/watermark.ts); then one more
  // for it, late.
  await publish(c, 'd', 1, w + 1_000, { temp: 1 })
  await publish(c, 'd', 2, w + 2_000, { temp: 2 })
  for (const k of [0, 1, 2]) await publish(c, 'd', 3 + k, w + 15_000 + k, { temp: 7 })
  await publish(c, 'd', 6, w + 3_000, { temp: 6 })
  const range = `device=d&from=${iso(w)}&to=${iso(w + 10_000)}`
  const asLive = await windows(a.httpPort, range)
  const truth = await windows(a.httpPort, `${range}&late=include`)
  const explicit = await windows(a.httpPort, `${range}&late=exclude`)
  t.same(
    asLive.map((r) => [r.temp_count_10s, r.temp_mean_10s]),
    [[2, 1.5]],
    'default: the window as it closed',
  )
  t.same(explicit, asLive, 'late=exclude is the default')
  t.same(
    truth.map((r) => [r.temp_count_10s, r.temp_mean_10s]),
    [[3, 3]],
    'late=include: every stored reading of the window',
  )
})

/** CSV cells are text: numbers become numbers, empty cells null. */
function castCsv(value: string, column: string): string | number | null {
  if (column === 'device' || column === 'window_end') return value
  return value === '' ? null : Number(value)
}

t.test('windows - a bad parameter is a 400 naming it', async (t) => {
  const a = await app(t)
  const c = await client(t, a.mqttPort)
  await publish(c, 'known', 1, Date.now(), { temp: 1.5 })
  const cases: Array<[string, string, string]> = [
    ['device=known&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&from=yesterday', 'from', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&to=2026-13-01T00:00:00Z', 'to', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&as_of=noon', 'as_of', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&feature=nope', 'feature', 'TLM_ERR_UNKNOWN_FEATURE'],
    ['device=known&feature=temp_10s,bad-name', 'feature', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=stranger', 'device', 'TLM_ERR_UNKNOWN_DEVICE'],
    ['', 'device', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&format=xlsx', 'format', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&from=1&from=2', 'from', 'TLM_ERR_INVALID_PARAMETER'],
    ['device=known&late=all', 'late', 'TLM_ERR_INVALID_PARAMETER'],
  ]
  for (const [query, parameter, code] of cases) {
    const res = await getJson<{ code: string; parameter: string; message: string }>(
      a.httpPort,
      `/v1/windows?${query}`,
    )
    t.same(
      [res.status, res.body.code, res.body.parameter],
      [400, code, parameter],
      `${query}: ${res.body.message}`,
    )
  }
  const ok = await getJson(a.httpPort, '/v1/windows?device=known')
  t.equal(ok.status, 200, 'and the server still answers')
})

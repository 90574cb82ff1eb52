/** The HTTP API's contract: health, readiness, metrics, and a 400 naming the parameter for every bad one. */

import t from 'tap'
import { startTestApp } from '../helpers/app.js'
import { type ApiReading, getJson, metric, postJson } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'
import { isDuckDBLimit } from '../helpers/store.js'

t.test('http - health, readiness and metrics', async (t) => {
  const app = await startTestApp(t)
  t.same(await getJson(app.httpPort, '/healthz'), { status: 200, body: { status: 'ok' } })
  t.same(await getJson(app.httpPort, '/readyz'), { status: 200, body: { status: 'ready' } })
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)
  t.match(res.headers.get('content-type'), /text\/plain/)
  const text = await res.text()
  for (const name of [
    'telemetry_messages_received_total',
    'telemetry_readings_accepted_total',
    'telemetry_messages_rejected_total',
    'telemetry_messages_duplicate_total',
    'telemetry_group_commit_readings',
    'telemetry_group_commit_seconds',
    'mqtt_connected_clients',
  ]) {
    t.match(text, new RegExp(`# TYPE ${name} `), `exports ${name}`)
  }
  // The store's memory comes from DuckDB itself: its limit as it prints its own setting.
  const limit = Number(/^store_memory_limit_bytes (\S+)$/m.exec(text)?.[1])
  t.ok(isDuckDBLimit(limit, 1000), `default limit 1000 MB, read back ${limit}`)
  const used = Number(/^store_memory_bytes (\S+)$/m.exec(text)?.[1])
  t.ok(used >= 0 && used <= limit, `memory in use ${used} within the limit`)
  await app.close()
  const after = await fetch(`http://127.0.0.1:${app.httpPort}/readyz`).then(
    (r) => r.status,
    () => 'refused',
  )
  t.not(after, 200, 'not ready once closed')
})

t.test('http - the store runs with the memory limit it was given', async (t) => {
  const app = await startTestApp(t, { storeMemoryMb: 64 })
  for (let seq = 0; seq < 100; seq++)
    await app.bridge.ingest('devices/mem-1/telemetry', reading(seq, { temp: seq }))
  const limit = await metric(app.httpPort, 'store_memory_limit_bytes')
  t.ok(isDuckDBLimit(limit, 64), `64 MB, read back from DuckDB: ${limit}`)
  const used = await metric(app.httpPort, 'store_memory_bytes')
  t.ok(used > 0 && used <= limit, `holds what it wrote (${used} bytes), within the limit`)
})

t.test('http - a bad parameter is a 400 naming it, never a 500', async (t) => {
  const app = await startTestApp(t)
  const cases: Array<[string, string]> = [
    ['/v1/telemetry', 'device'],
    ['/v1/telemetry?device=a/b', 'device'],
    ['/v1/telemetry?device=a&from=yesterday', 'from'],
    ['/v1/telemetry?device=a&from=-1w', 'from'],
    ['/v1/telemetry?device=a&from=-h', 'from'],
    ['/v1/telemetry?device=a&to=+1h', 'to'],
    ['/v1/telemetry?device=a&from=-1h&to=-2h', 'from'],
    ['/v1/telemetry?device=a&to=2025-13-01T00:00:00Z', 'to'],
    ['/v1/telemetry?device=a&from=2000&to=1000', 'from'],
    ['/v1/telemetry?device=a&limit=0', 'limit'],
    ['/v1/telemetry?device=a&limit=abc', 'limit'],
    ['/v1/telemetry?device=a&limit=100000000', 'limit'],
    ['/v1/telemetry?device=a&format=xml', 'format'],
    ['/v1/telemetry?device=a&fields=nosuch', 'fields'],
    ['/v1/telemetry?device=a&device=b', 'device'],
    ['/v1/dead-letters?reason=bogus', 'reason'],
    ['/v1/dead-letters?limit=-1', 'limit'],
  ]
  for (const [path, parameter] of cases) {
    const res = await getJson<{ code: string; parameter: string; message: string }>(app.httpPort, path)
    t.equal(res.status, 400, `${path}: 400`)
    t.equal(res.body.code, 'TLM_ERR_INVALID_PARAMETER', `${path}: code`)
    t.equal(res.body.parameter, parameter, `${path}: names ${parameter}`)
  }
  const replay = await postJson<{ code: string; parameter: string }>(
    app.httpPort,
    '/v1/dead-letters/replay',
    { ids: ['x'] },
  )
  t.same([replay.status, replay.body.parameter], [400, 'ids'])
  const empty = await postJson<{ code: string; parameter: string }>(
    app.httpPort,
    '/v1/dead-letters/replay',
    {},
  )
  t.same([empty.status, empty.body.parameter], [400, 'ids'])
  const badJson = await fetch(`http://127.0.0.1:${app.httpPort}/v1/dead-letters/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{',
  })
  t.equal(badJson.status, 400)
  t.equal(((await badJson.json()) as { code: string }).code, 'TLM_ERR_BAD_REQUEST')
  const missing = await getJson<{ code: string }>(app.httpPort, '/v2/nothing')
  t.same([missing.status, missing.body.code], [404, 'TLM_ERR_NOT_FOUND'])
  for (const [body, parameter] of [
    [{ ids: [] }, 'ids'],
    [{ ids: [1.5] }, 'ids'],
    [{ ids: [1], limit: 0 }, 'limit'],
    [{ reason: 'bogus' }, 'reason'],
    [[1], 'body'],
  ] as const) {
    const res = await postJson<{ code: string; parameter: string }>(
      app.httpPort,
      '/v1/dead-letters/replay',
      body,
    )
    t.same([res.status, res.body.code, res.body.parameter], [400, 'TLM_ERR_INVALID_PARAMETER', parameter])
  }
})

t.test('http - an empty parameter is as if it were absent', async (t) => {
  const app = await startTestApp(t)
  await app.bridge.ingest('devices/e1/telemetry', reading(1, { temp: 1 }))
  const res = await getJson<{ readings: unknown[] }>(
    app.httpPort,
    '/v1/telemetry?device=e1&from=&to=&fields=&limit=&format=',
  )
  t.same([res.status, res.body.readings.length], [200, 1])
})

t.test('http - times before now (-15m, -2h) and now select by receive-relative time', async (t) => {
  const app = await startTestApp(t)
  const hourAgo = Date.now() - 3_600_000
  await app.bridge.ingest('devices/rel/telemetry', reading(1, { temp: 1 }, { ts: hourAgo - 600_000 }))
  await app.bridge.ingest('devices/rel/telemetry', reading(2, { temp: 2 }, { ts: hourAgo + 600_000 }))
  const seqs = async (range: string) =>
    (
      await getJson<{ readings: Array<{ seq: number }> }>(app.httpPort, `/v1/telemetry?device=rel&${range}`)
    ).body.readings.map((r) => r.seq)
  t.same(await seqs('from=-1h&to=now'), [2], 'the last hour')
  t.same(await seqs('from=-2h&to=-1h'), [1], 'the hour before')
  t.same(await seqs('from=-120m'), [1, 2], 'minutes, to the default end')
  t.same(await seqs('from=-1d&to=-30s'), [1, 2], 'days and seconds')
})

t.test('http - CSV of /v1/telemetry holds what its JSON holds, cell for cell (RFC 4180)', async (t) => {
  const app = await startTestApp(t)
  const ts = Date.now() - 1000
  await app.bridge.ingest(
    'devices/c1/telemetry',
    reading(1, { temp: 21.5, on: true, big: 2n ** 60n }, { ts, t: { site: 'a,"b"\nc' } }),
  )
  await app.bridge.ingest('devices/c1/telemetry', reading(2, { temp: -0.25, on: false }, { ts: ts + 1 }))
  const query = '/v1/telemetry?device=c1&from=0&fields=temp,on,big'
  const json = await getJson<{ readings: ApiReading[] }>(app.httpPort, query)
  const csv = await (await fetch(`http://127.0.0.1:${app.httpPort}${query}&format=csv`)).text()
  // RFC 4180 written here from the JSON, independently of the server's CSV writer.
  const cell = (v: unknown): string => {
    const s = v === undefined || v === null ? '' : String(v)
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
  }
  const expected = [
    'device,ts,boot,seq,idx,device_ts,recv_ts,offset_ns,temp,on,big,tags',
    ...json.body.readings.map((r) =>
      [
        r.device,
        r.ts,
        r.boot,
        r.seq,
        r.idx,
        r.device_ts,
        r.recv_ts,
        r.offset_ns,
        r.fields.temp,
        r.fields.on,
        r.fields.big,
        Object.keys(r.tags).length === 0 ? '' : JSON.stringify(r.tags),
      ]
        .map(cell)
        .join(','),
    ),
  ]
  t.equal(csv, `${expected.join('\n')}\n`, 'byte for byte')
  t.match(
    csv,
    /,true,1152921504606846976,"{""site"":""a,\\""b\\""\\nc""}"\n/,
    'a bool, a 64-bit integer, quoted tags',
  )
})

t.test(
  'http - a URL over the header limit is a 431 with our JSON error, and the server serves on',
  async (t) => {
    const app = await startTestApp(t)
    const long = `/v1/telemetry?device=${'d'.repeat(20_000)}`
    const res = await fetch(`http://127.0.0.1:${app.httpPort}${long}`)
    t.equal(res.status, 431)
    t.match(res.headers.get('content-type'), /^application\/json/)
    t.match(await res.json(), { code: 'TLM_ERR_BAD_REQUEST', message: /exceed the server limit/ })
    t.equal((await getJson(app.httpPort, '/healthz')).status, 200, 'and the server still answers')
  },
)

/**
 * The SSE streams through the real app: mqtt.js publishes readings, and
 * Node's own clients read them on one port, HTTP/2 with prior knowledge
 * (h2c) and HTTP/1.1 side by side. Filtering, resume, errors, and a slow
 * consumer next to a fast one.
 */

import { connect as http2Connect } from 'node:http2'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { startTestApp, tempDir } from '../helpers/app.js'
import { metric } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'
import { bodyText, dataOf, h1Get, h2Get, SseReader } from '../helpers/sse.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

interface TelemetryData {
  device: string
  seq: number
  boot: number
  ts: string
  recv_ts: string
  fields: Record<string, number | boolean | string>
  tags: Record<string, string>
}

async function mqttClient(t: Teardown, port: number): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    clientId: `c-${Math.random()}`,
  })
  t.teardown(() => c.endAsync(true))
  return c
}

/** Publishes one reading at QoS 1 and waits for its acknowledgement: its event is then on its way. */
async function publish(c: MqttClient, device: string, seq: number, fields: Record<string, unknown>) {
  await c.publishAsync(`devices/${device}/telemetry`, reading(seq, fields), { qos: 1 })
}

function h2Session(t: Teardown, port: number) {
  const session = http2Connect(`http://127.0.0.1:${port}`)
  session.on('error', () => undefined)
  t.teardown(() => session.destroy())
  return session
}

/** Opens a stream over h2c and follows it. */
async function h2Stream(t: Teardown, port: number, path: string, headers: Record<string, string> = {}) {
  const { stream, status, headers: h } = await h2Get(h2Session(t, port), path, headers)
  t.teardown(() => stream.destroy())
  return { status, headers: h, stream, reader: new SseReader(stream) }
}

/** The metric once it equals `value`, or its value when the bound passes (a bound, not a timing claim). */
async function metricReaches(port: number, name: string, value: number, boundMs = 10_000): Promise<number> {
  const deadline = Date.now() + boundMs
  let now = await metric(port, name)
  while (now !== value && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    now = await metric(port, name)
  }
  return now
}

const telemetry = (r: SseReader) => dataOf<TelemetryData>(r.events, 'telemetry')
const seqsOf = (r: SseReader, device?: string) =>
  telemetry(r)
    .filter((d) => device === undefined || d.device === device)
    .map((d) => d.seq)
const hasSeq = (device: string, seq: number) => (r: SseReader) =>
  telemetry(r).some((d) => d.device === device && d.seq === seq)

t.test('streams - an HTTP/2 client over h2c gets the devices and fields it asked for', async (t) => {
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  // Devices are known once they have stored a reading.
  for (const d of ['a', 'b', 'c']) await publish(c, d, 1, { temp: 1.5, hum: 10 })

  const { status, headers, reader, stream } = await h2Stream(
    t,
    app.httpPort,
    '/v1/stream/telemetry?device=a,b&fields=temp',
  )
  t.equal(status, 200)
  t.match(headers['content-type'], /^text\/event-stream/)
  t.equal(stream.session?.alpnProtocol, 'h2c', 'HTTP/2 cleartext')

  await publish(c, 'a', 2, { temp: 2.5, hum: 20 })
  await publish(c, 'c', 2, { temp: 99.5, hum: 99 })
  await publish(c, 'b', 2, { temp: 3.5, hum: 30, on: true })
  await publish(c, 'a', 3, { hum: 40 }) // no temp: not sent
  await publish(c, 'b', 3, { temp: 4.5 }) // sent last, so everything before it has arrived or never will
  await reader.until(hasSeq('b', 3), 'b seq 3')

  const got = telemetry(reader)
  t.same(
    got.map((d) => [d.device, d.seq]),
    [
      ['a', 2],
      ['b', 2],
      ['b', 3],
    ],
    'only a and b, only readings with temp, nothing from before the stream opened',
  )
  t.same(
    got.map((d) => d.fields),
    [{ temp: 2.5 }, { temp: 3.5 }, { temp: 4.5 }],
    'only the temp field',
  )
  const ids = reader.events.filter((e) => e.event === 'telemetry').map((e) => Number(e.id))
  t.ok(
    ids.every((id, i) => i === 0 || id > ids[i - 1]!),
    `ids increase: ${ids}`,
  )
  t.equal(reader.parser.retry, 2000)
})

t.test(
  'streams - an HTTP/1.1 client on the same port gets the same events as an HTTP/2 client',
  async (t) => {
    const app = await startTestApp(t)
    const c = await mqttClient(t, app.mqttPort)
    await publish(c, 's1', 1, { temp: 0.5 })
    const path = '/v1/stream/telemetry?device=s1&fields=temp,hum'
    const h2 = await h2Stream(t, app.httpPort, path)
    const res = await h1Get(t, `http://127.0.0.1:${app.httpPort}${path}`)
    t.equal(res.statusCode, 200)
    t.equal(res.httpVersion, '1.1')
    t.match(res.headers['content-type'], /^text\/event-stream/)
    const h1 = new SseReader(res)

    for (let seq = 2; seq <= 6; seq++) await publish(c, 's1', seq, { temp: seq + 0.5, other: seq })
    await h2.reader.until(hasSeq('s1', 6), 'HTTP/2: seq 6')
    await h1.until(hasSeq('s1', 6), 'HTTP/1.1: seq 6')

    t.same(seqsOf(h1), [2, 3, 4, 5, 6])
    t.same(
      h1.events.filter((e) => e.event === 'telemetry'),
      h2.reader.events.filter((e) => e.event === 'telemetry'),
      'same ids, same data',
    )
    t.same(telemetry(h1)[0]?.fields, { temp: 2.5 })

    t.equal(await metric(app.httpPort, 'sse_clients'), 2)
    res.destroy() // the HTTP/1.1 client goes away
    t.equal(await metricReaches(app.httpPort, 'sse_clients', 1), 1, 'the server let go of it')
    await publish(c, 's1', 7, { temp: 7 })
    await h2.reader.until(hasSeq('s1', 7), 'HTTP/2: seq 7 after the HTTP/1.1 client left')
  },
)

t.test('streams - device=* streams every device, known or new', async (t) => {
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  const res = await h1Get(t, `http://127.0.0.1:${app.httpPort}/v1/stream/telemetry?device=*`)
  t.equal(res.statusCode, 200, 'allowed before any device is known')
  const reader = new SseReader(res)
  await publish(c, 'x1', 1, { temp: 1 })
  await publish(c, 'x2', 1, { temp: 2, on: false })
  await reader.until(hasSeq('x2', 1), 'x2 seq 1')
  t.same(
    telemetry(reader).map((d) => [d.device, d.fields]),
    [
      ['x1', { temp: 1 }],
      ['x2', { temp: 2, on: false }],
    ],
  )
})

t.test('streams - a client that resumes with Last-Event-ID gets exactly what it missed', async (t) => {
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  await publish(c, 'r', 1, { temp: 1 })
  await publish(c, 'other', 1, { temp: 1 })
  const path = '/v1/stream/telemetry?device=r'

  const first = await h2Stream(t, app.httpPort, path)
  for (let seq = 2; seq <= 6; seq++) await publish(c, 'r', seq, { temp: seq })
  await first.reader.until(hasSeq('r', 6), 'seq 6')
  const seen = first.reader.events.filter((e) => e.event === 'telemetry')
  const lastId = seen.at(-1)!.id!
  first.stream.close()
  await first.reader.until((r) => r.ended, 'first stream closed')

  // Missed while away, with another device's readings in between.
  for (let seq = 7; seq <= 12; seq++) {
    await publish(c, 'r', seq, { temp: seq })
    await publish(c, 'other', seq, { temp: seq })
  }

  const again = await h2Stream(t, app.httpPort, path, { 'last-event-id': lastId })
  t.equal(again.status, 200)
  await publish(c, 'r', 13, { temp: 13 })
  await again.reader.until(hasSeq('r', 13), 'seq 13')
  t.same(seqsOf(first.reader), [2, 3, 4, 5, 6])
  t.same(
    seqsOf(again.reader),
    [7, 8, 9, 10, 11, 12, 13],
    'the missed ones, in order, then live ones; no repeats',
  )
  t.notOk(
    again.reader.events.some((e) => e.event === 'reset' || e.event === 'gap'),
    'nothing lost: no reset, no gap',
  )
  const ids = again.reader.events.map((e) => Number(e.id))
  t.ok(Number(ids[0]) > Number(lastId), 'replay starts after the last id seen')

  // The query parameter, for clients that cannot set headers, over HTTP/1.1.
  const viaQuery = await h1Get(t, `http://127.0.0.1:${app.httpPort}${path}&lastEventId=${lastId}`)
  const reader = new SseReader(viaQuery)
  await reader.until(hasSeq('r', 13), 'HTTP/1.1 replay up to seq 13')
  t.same(seqsOf(reader), [7, 8, 9, 10, 11, 12, 13])
})

t.test('streams - a resume that replays more events than a client queue holds loses nothing', async (t) => {
  // 9,000 missed events: within the replay log (10,000) but many more than a
  // client's queue (1,000). A socket reports full after about 16 KiB even on
  // loopback, so a replay written all at once would overflow the queue.
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  await publish(c, 'big', 1, wide(1))
  const path = '/v1/stream/telemetry?device=big'
  const first = await h2Stream(t, app.httpPort, path)
  await publish(c, 'big', 2, wide(2))
  await first.reader.until(hasSeq('big', 2), 'seq 2')
  const lastId = first.reader.events.at(-1)!.id!
  first.stream.close()

  const missed = 9_000
  const live = 3 + missed
  await publishConcurrently(c, 'big', 3, live - 1, 100, wide)
  const clients = {
    'HTTP/2': (await h2Stream(t, app.httpPort, path, { 'last-event-id': lastId })).reader,
    'HTTP/1.1': new SseReader(
      await h1Get(t, `http://127.0.0.1:${app.httpPort}${path}`, { 'last-event-id': lastId }),
    ),
  }
  await publish(c, 'big', live, wide(live))
  for (const [protocol, reader] of Object.entries(clients)) {
    await reader.until(hasSeq('big', live), `${protocol}: the live event after the replay`, 60_000)
    const seqs = new Set(seqsOf(reader))
    const lost = Array.from({ length: missed }, (_, i) => i + 3).filter((s) => !seqs.has(s))
    t.equal(lost.length, 0, `${protocol}: every missed reading is replayed (${lost.length} lost)`)
    t.equal(seqsOf(reader).length, missed + 1, `${protocol}: each once, then the live one`)
    t.same(
      reader.events.filter((e) => e.event !== 'telemetry'),
      [],
      `${protocol}: no gap, no reset on a resume within the replay log`,
    )
  }
})

t.test('streams - a client resuming across a restart is not silently short of events', async (t) => {
  const dataDir = tempDir(t)
  const first = await startTestApp(t, { dataDir })
  let c = await mqttClient(t, first.mqttPort)
  await publish(c, 'rs', 1, { temp: 1 })
  const before = await h2Stream(t, first.httpPort, '/v1/stream/telemetry?device=rs')
  for (let seq = 2; seq <= 20; seq++) await publish(c, 'rs', seq, { temp: seq })
  await before.reader.until(hasSeq('rs', 20), 'seq 20')
  const lastId = before.reader.events.at(-1)!.id!
  await c.endAsync()
  await first.close()

  const second = await startTestApp(t, { dataDir })
  c = await mqttClient(t, second.mqttPort)
  // Ingested after the restart, before the client is back (EventSource waits `retry` ms).
  for (let seq = 21; seq <= 25; seq++) await publish(c, 'rs', seq, { temp: seq })
  const after = await h2Stream(t, second.httpPort, '/v1/stream/telemetry?device=rs', {
    'last-event-id': lastId,
  })
  t.equal(after.status, 200)
  await publish(c, 'rs', 26, { temp: 26 })
  await after.reader.until(hasSeq('rs', 26), 'seq 26')
  const reset = after.reader.events.some((e) => e.event === 'reset')
  const seqs = seqsOf(after.reader)
  t.ok(
    reset || [21, 22, 23, 24, 25].every((s) => seqs.includes(s)),
    `readings 21 to 25 are replayed, or a reset says they are gone (got ${seqs})`,
  )
})

t.test('streams - bad requests are 400s naming the parameter', async (t) => {
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  await publish(c, 'known', 1, { temp: 1 })
  const base = `http://127.0.0.1:${app.httpPort}`
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ['/v1/stream/telemetry', {}, 'TLM_ERR_INVALID_PARAMETER', 'device'],
    ['/v1/stream/telemetry?device=', {}, 'TLM_ERR_INVALID_PARAMETER', 'device'],
    ['/v1/stream/telemetry?device=a%20b', {}, 'TLM_ERR_INVALID_PARAMETER', 'device'],
    ['/v1/stream/telemetry?device=known&fields=te%24mp', {}, 'TLM_ERR_INVALID_PARAMETER', 'fields'],
    [
      '/v1/stream/telemetry?device=known',
      { 'last-event-id': 'abc' },
      'TLM_ERR_INVALID_PARAMETER',
      'Last-Event-ID',
    ],
    ['/v1/stream/features', {}, 'TLM_ERR_INVALID_PARAMETER', 'device'],
    ['/v1/stream/features?device=a/b&feature=temp_10s', {}, 'TLM_ERR_INVALID_PARAMETER', 'device'],
    ['/v1/stream/features?device=*&feature=temp_mean_10s', {}, 'TLM_ERR_UNKNOWN_FEATURE', 'feature'],
  ]
  for (const [path, headers, code, parameter] of cases) {
    const res = await fetch(base + path, { headers })
    t.equal(res.status, 400, `HTTP/1.1 ${path}`)
    t.match(await res.json(), { code, parameter }, `HTTP/1.1 ${path}: ${code}`)
  }

  // And the same over HTTP/2.
  const session = h2Session(t, app.httpPort)
  const { stream, status } = await h2Get(session, '/v1/stream/telemetry?device=a%20b')
  t.equal(status, 400, 'HTTP/2 malformed device')
  t.match(JSON.parse(await bodyText(stream)), { code: 'TLM_ERR_INVALID_PARAMETER', parameter: 'device' })
})

t.test('streams - a device not seen yet is streamed once it publishes, telemetry and features', async (t) => {
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  await publish(c, 'known', 1, { temp: 1 })
  const telemetry = await h2Stream(t, app.httpPort, '/v1/stream/telemetry?device=known,later')
  t.equal(telemetry.status, 200, 'a known and a not-yet-seen device together')
  const features = await h2Stream(t, app.httpPort, '/v1/stream/features?device=later&feature=temp_10s')
  t.equal(features.status, 200, 'features of a device not seen yet')
  // A 10 s window of `later`'s readings, closed by a reading past its end and grace.
  const start = Math.floor((Date.now() - 60_000) / 10_000) * 10_000
  const at = (seq: number, ms: number) =>
    c.publishAsync('devices/later/telemetry', reading(seq, { temp: seq }, { ts: start + ms }), { qos: 1 })
  for (let seq = 1; seq <= 3; seq++) await at(seq, seq * 1000)
  // Three readings past the window's end and grace move the watermark (bridge/watermark.ts).
  for (const k of [0, 1, 2]) await at(4 + k, 25_000 + k * 100)
  await telemetry.reader.until(hasSeq('later', 6), 'later seq 6')
  t.same(seqsOf(telemetry.reader, 'later'), [1, 2, 3, 4, 5, 6], 'every reading of the new device, in order')
  await features.reader.until((r) => dataOf(r.events, 'feature').length > 0, 'a feature of later')
  t.match(dataOf(features.reader.events, 'feature')[0], { device: 'later', feature: 'temp_10s', count: 3 })
})

t.test('streams - the features stream sends the closed windows and late readings asked for', async (t) => {
  // features.default.json: temp_10s is a 10 s tumbling window of temp with 2 s of grace.
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  const base = Math.floor((Date.now() - 120_000) / 10_000) * 10_000
  const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z')
  // Readings from two minutes ago keep their own times (--clock-correction future-only).
  const send = (seq: number, atMs: number, temp: number) =>
    c.publishAsync('devices/f1/telemetry', reading(seq, { temp }, { ts: base + atMs }), { qos: 1 })
  await send(1, 1_000, 10)

  const one = await h2Stream(t, app.httpPort, '/v1/stream/features?device=f1&feature=temp_10s')
  t.equal(one.status, 200)
  t.match(one.headers['content-type'], /^text\/event-stream/)
  const all = new SseReader(await h1Get(t, `http://127.0.0.1:${app.httpPort}/v1/stream/features?device=*`))

  await send(2, 2_000, 20)
  await send(3, 5_000, 30)
  // Received together, a step 8 s ahead of the receive clock moves the
  // watermark only once three readings have reached it (bridge/watermark.ts):
  // then 13.2 s, minus the grace: 11.2 s, and the window [0 s, 10 s) closes.
  for (const k of [0, 1, 2]) await send(4 + k, 13_000 + k * 100, 40)
  await one.reader.until((r) => r.events.some((e) => e.event === 'feature'), 'a feature event')
  const [window] = dataOf(one.reader.events, 'feature')
  t.match(window, {
    device: 'f1',
    feature: 'temp_10s',
    field: 'temp',
    window_start: iso(base),
    window_end: iso(base + 10_000),
    count: 3,
    values: { mean: 20, min: 10, max: 30, count: 3 },
    watermark: iso(base + 11_200),
    closed_by: 'watermark',
  })
  t.type(window?.staleness_ms, 'number', 'freshness attached')

  await send(7, 3_000, 99) // in the closed window: late
  await one.reader.until((r) => r.events.some((e) => e.event === 'late'), 'a late event')
  t.match(dataOf(one.reader.events, 'late'), [{ device: 'f1', feature: 'temp_10s', ts: iso(base + 3_000) }])
  t.same(
    [...new Set(one.reader.events.map((e) => JSON.parse(e.data).feature))],
    ['temp_10s'],
    'only the feature asked for',
  )
  t.same(dataOf(one.reader.events, 'feature').length, 1, 'a window is emitted once')

  await all.until((r) => r.events.some((e) => e.event === 'late'), 'device=*: a late event')
  const features = new Set(dataOf<{ feature: string }>(all.events, 'feature').map((d) => d.feature))
  t.ok(
    features.has('temp_10s') && features.has('temp_trend_60s'),
    `device=*: every feature (${[...features]})`,
  )
  t.ok((await metric(app.httpPort, 'feature_late_readings_total')) > 0, 'late readings counted')
})

/** Ten numeric fields: an event of about 400 bytes. */
function wide(seq: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`field_${i}`, seq + i / 10]))
}

/**
 * Publishes seq from..to with at most `inFlight` unacknowledged at once;
 * resolves with the number acknowledged.
 */
async function publishConcurrently(
  c: MqttClient,
  device: string,
  from: number,
  to: number,
  inFlight: number,
  fields: (seq: number) => Record<string, unknown>,
): Promise<number> {
  let next = from
  let acked = 0
  const worker = async (): Promise<void> => {
    while (next <= to) {
      const seq = next++
      await publish(c, device, seq, fields(seq))
      acked++
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return acked
}

t.test(
  'streams - a slow consumer slows neither ingest nor a fast consumer, and hears what it lost',
  async (t) => {
    const app = await startTestApp(t)
    const c = await mqttClient(t, app.mqttPort)
    const path = '/v1/stream/telemetry?device=*'
    // Separate connections: HTTP/2 flow control is per stream and per connection.
    const fast = await h2Stream(t, app.httpPort, path)
    const slowSession = h2Session(t, app.httpPort)
    const slow = await h2Get(slowSession, path)
    t.equal(slow.status, 200)
    // Nobody reads the slow stream: once its buffers and HTTP/2 window fill,
    // the server's writes report full and its queue fills.
    t.equal(await metric(app.httpPort, 'sse_clients'), 2)

    const total = 20_000
    const acked = await publishConcurrently(c, 'load', 1, total, 100, (seq) => ({ v: seq }))
    t.equal(acked, total, 'every publish acknowledged')
    t.equal(await metric(app.httpPort, 'telemetry_readings_accepted_total'), total, 'every reading stored')

    await fast.reader.until((r) => seqsOf(r).length >= total, `fast: ${total} events`, 60_000)
    const seqs = seqsOf(fast.reader)
    t.equal(seqs.length, total, 'fast: no extra events')
    t.equal(new Set(seqs).size, total, 'fast: no repeats')
    t.ok(
      seqs.every((s) => s >= 1 && s <= total),
      'fast: every seq from 1 to 20,000',
    )
    t.same(dataOf(fast.reader.events, 'gap'), [], 'fast: no gap')

    const dropped = await metric(app.httpPort, 'sse_events_dropped_total')
    t.ok(dropped > 0, `sse_events_dropped_total is ${dropped}`)

    // Now read the slow one: it was told what it lost, or it was cut.
    const slowReader = new SseReader(slow.stream)
    await slowReader.until(
      (r) => r.ended || r.events.some((e) => e.event === 'gap'),
      'slow: a gap event or the end of the stream',
    )
    const gaps = dataOf<{ lost: number }>(slowReader.events, 'gap')
    t.ok(gaps.length > 0 || slowReader.ended, 'slow: gap or disconnected')
    if (gaps.length > 0) {
      const lost = gaps.reduce((sum, g) => sum + g.lost, 0)
      t.equal(lost, dropped, 'the gap counts what the metric counted for this one slow client')
      // Once its queue is flushed, what it got and what it lost add up.
      await slowReader.until(
        (r) => seqsOf(r).length + lost >= total,
        'slow: received plus lost covers every reading',
      )
      t.equal(seqsOf(slowReader).length + lost, total, 'slow: received + lost = published')
    }

    // A client that goes away frees its place.
    slowSession.destroy()
    fast.stream.close()
    const deadline = Date.now() + 10_000
    while ((await metric(app.httpPort, 'sse_clients')) !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    t.equal(await metric(app.httpPort, 'sse_clients'), 0, 'both clients removed once gone')
  },
)

t.test('streams - a telemetry event is the same JSON as the reading from GET /v1/telemetry', async (t) => {
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  const live = await h2Stream(t, app.httpPort, '/v1/stream/telemetry?device=*')
  const now = Date.now()
  await c.publishAsync(
    'devices/same/telemetry',
    reading(1, { temp: 21.5, big: 2n ** 60n, on: true }, { ts: now - 1000, t: { site: 'north' } }),
    { qos: 1 },
  )
  await c.publishAsync('devices/same/telemetry', reading(2, { temp: 22.25 }), { qos: 1 })
  await live.reader.until((r) => dataOf(r.events, 'telemetry').length >= 2, 'two telemetry events')
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/v1/telemetry?device=same&from=0&format=ndjson`)
  const history = (await res.text()).split('\n').filter((l) => l !== '')
  const events = live.reader.events.filter((e) => e.event === 'telemetry').map((e) => e.data)
  t.same(events, history, 'byte for byte')
  t.match(JSON.parse(events[0]!), {
    offset_ns: 0,
    fields: { big: '1152921504606846976', on: true },
    tags: { site: 'north' },
  })
})

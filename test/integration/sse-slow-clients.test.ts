/**
 * Issue 21, reproduction 4: SSE clients that never read, on `device=*`,
 * while a device publishes 2,000 readings/s. Before the byte budget, 1,000
 * such clients held 2.3-2.6 GB and lagged the event loop by 12-14 s, so most
 * publishes went unacknowledged; this run of 200 grew the test process by
 * 350-356 MiB (the bytes were never counted, so nothing bounded them).
 *
 * The clients: 190 HTTP/2 streams, 50 to a connection (streams of one
 * connection share its flow-control window, so they stop taking data after
 * 64 KiB between them), and 10 HTTP/1.1 sockets that are paused (their
 * kernel buffers take a few MB each before the server sees them full).
 */

import { type ClientHttp2Stream, connect as http2Connect } from 'node:http2'
import { connect as netConnect, type Socket } from 'node:net'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import mqtt from 'mqtt'
import t from 'tap'
import { DEFAULT_SSE_TOTAL_BYTES } from '../../src/api/sse-budget.js'
import { startTestApp } from '../helpers/app.js'
import { metric } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'
import { h1Get, SseReader } from '../helpers/sse.js'

const H1_CLIENTS = 10
const H2_STREAMS = 190
const READINGS_PER_S = 2_000
const SECONDS = 5
/**
 * What the test process may grow by. With the budget it grew 134-182 MiB
 * (116 MiB in a run with no SSE client at all: the store, MQTT); without,
 * 350-356 MiB.
 */
const RSS_GROWTH_BOUND = 256 * 2 ** 20

/** Ten numeric fields and three tags of 256 characters (the most a tag may hold): an event of about 1.2 KB. */
const FIELDS = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`field_${i}`, i / 10]))
const TAGS = { a: 'a'.repeat(256), b: 'b'.repeat(256), c: 'c'.repeat(256) }
const PATH = '/v1/stream/telemetry?device=*'

/** An HTTP/1.1 stream whose client never reads: the socket is paused once the request is out. */
function h1NeverReading(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => {
      socket.write(`GET ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      socket.pause()
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

t.test('streams - SSE clients that never read cost only themselves (issue 21)', async (t) => {
  const app = await startTestApp(t)
  const sockets = await Promise.all(Array.from({ length: H1_CLIENTS }, () => h1NeverReading(app.httpPort)))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
  })
  const streams: ClientHttp2Stream[] = []
  for (let i = 0; i < H2_STREAMS; i += 50) {
    const session = http2Connect(`http://127.0.0.1:${app.httpPort}`)
    session.on('error', () => undefined)
    t.teardown(() => session.destroy())
    for (let j = i; j < Math.min(i + 50, H2_STREAMS); j++) {
      const stream = session.request({ ':path': PATH })
      stream.on('error', () => undefined)
      stream.pause()
      streams.push(stream)
    }
  }
  const deadline = Date.now() + 10_000
  while ((await metric(app.httpPort, 'sse_clients')) < H1_CLIENTS + H2_STREAMS && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await metric(app.httpPort, 'sse_clients'), H1_CLIENTS + H2_STREAMS, 'every client attached')

  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  const buffered: number[] = []
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      buffered.push(await metric(app.httpPort, 'sse_buffered_bytes'))
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  })()
  const rss0 = process.memoryUsage().rss
  let rssMax = rss0
  const rssTimer = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage().rss)
  }, 50)
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()

  // 20 readings every 10 ms, each acknowledgement timed from its publish.
  const latencies: number[] = []
  const acks: Promise<void>[] = []
  const total = READINGS_PER_S * SECONDS
  const perTick = READINGS_PER_S / 100
  const started = performance.now()
  let seq = 0
  while (seq < total) {
    for (let i = 0; i < perTick; i++) {
      const sent = performance.now()
      acks.push(
        c
          .publishAsync('devices/load/telemetry', reading(++seq, FIELDS, { t: TAGS }), { qos: 1 })
          .then(() => void latencies.push(performance.now() - sent)),
      )
    }
    const next = started + (seq / perTick) * 10
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())))
  }
  // A bound against a stall, not a timing claim.
  let bound: NodeJS.Timeout | undefined
  await Promise.race([Promise.all(acks), new Promise((resolve) => (bound = setTimeout(resolve, 30_000)))])
  clearTimeout(bound)
  lag.disable()
  clearInterval(rssTimer)
  sampling = false
  await sampler

  latencies.sort((a, b) => a - b)
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Number.POSITIVE_INFINITY
  const growth = rssMax - rss0
  t.comment(
    `acknowledged ${latencies.length}/${total}, PUBACK p99 ${p99.toFixed(0)} ms, ` +
      `event-loop lag max ${(lag.max / 1e6).toFixed(0)} ms, RSS +${(growth / 2 ** 20).toFixed(0)} MiB, ` +
      `sse_buffered_bytes max ${(Math.max(...buffered) / 2 ** 20).toFixed(1)} MiB`,
  )
  t.equal(latencies.length, total, 'every reading acknowledged')
  t.ok(
    buffered.length > 0 && buffered.every((b) => b <= DEFAULT_SSE_TOTAL_BYTES),
    `sse_buffered_bytes stays within the total budget in ${buffered.length} scrapes`,
  )
  t.ok(Math.max(...buffered) > 0, 'and counts what the clients hold')
  t.ok(growth < RSS_GROWTH_BOUND, `the process grew ${(growth / 2 ** 20).toFixed(0)} MiB, under 256 MiB`)
  // A guard against the 12-14 s, not a timing claim: it measured 160-380 ms with the
  // budget, and 430-1,180 ms without, on a 2-core machine running other tests.
  t.ok(lag.max < 2e9, `the event loop never stalled 2 s (max ${(lag.max / 1e6).toFixed(0)} ms)`)
  const dropped = await metric(app.httpPort, 'sse_events_dropped_total')
  const cut = await metric(app.httpPort, 'sse_clients_cut_total')
  t.ok(dropped > 0 || cut > 0, `slow clients dropped events (${dropped}) or were cut (${cut})`)

  // A client that reads again hears what it missed: a gap, or the end of its stream.
  for (const stream of streams.slice(0, 3)) {
    const reader = new SseReader(stream)
    stream.resume()
    await reader.until((r) => r.ended || r.events.some((e) => e.event === 'gap'), 'a gap or the end')
  }
  t.pass('the slow streams that read again were told of their gap, or had been closed')
})

t.test('streams - what the sockets of clients that keep up have taken is no longer counted', async (t) => {
  // The budget counts a write until its callback: over HTTP/2 once the stream
  // has handed it on, over HTTP/1.1 once the socket has. Were a callback never
  // run, the bytes would stay counted and the budget would cut readers in time.
  const app = await startTestApp(t)
  const session = http2Connect(`http://127.0.0.1:${app.httpPort}`)
  session.on('error', () => undefined)
  t.teardown(() => session.destroy())
  const h2 = new SseReader(session.request({ ':path': PATH }))
  const h1 = new SseReader(await h1Get(t, `http://127.0.0.1:${app.httpPort}${PATH}`))
  await h2.until((r) => r.parser.retry !== null, 'HTTP/2: attached')
  await h1.until((r) => r.parser.retry !== null, 'HTTP/1.1: attached')
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  const total = 500
  await Promise.all(
    Array.from({ length: total }, (_, i) =>
      c.publishAsync('devices/load/telemetry', reading(i + 1, FIELDS, { t: TAGS }), { qos: 1 }),
    ),
  )
  const received = (r: SseReader) => r.events.filter((e) => e.event === 'telemetry').length
  await h2.until((r) => received(r) === total, 'HTTP/2: every event')
  await h1.until((r) => received(r) === total, 'HTTP/1.1: every event')
  let held = await metric(app.httpPort, 'sse_buffered_bytes')
  const deadline = Date.now() + 10_000
  while (held !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    held = await metric(app.httpPort, 'sse_buffered_bytes')
  }
  t.equal(held, 0, 'nothing held once both have read everything')
  t.equal(await metric(app.httpPort, 'sse_events_dropped_total'), 0, 'nothing dropped')
})

/**
 * GET /v1/dead-letters streams, through the store's query gate (issue 21,
 * item 3). Its pages were built whole on the main thread, outside the gate:
 * in the soak 8 loops of `include=payload` raised a legitimate publisher's
 * PUBACK p99 from 38 to 1,987 ms. Now a listing is admitted like a history
 * query (503 when the gate is full), holds its place while it streams, and
 * gives it back when its client goes away.
 */

import { request } from 'node:http'
import mqtt from 'mqtt'
import t from 'tap'
import { startTestApp } from '../helpers/app.js'

/** Not CBOR (a stray break): each is a payload_malformed dead letter. */
const junk = (bytes: number, i: number) => Buffer.alloc(bytes, 0xff - (i % 2))

async function storeJunk(mqttPort: number, count: number, bytes: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 })
  for (let i = 0; i < count; i++)
    await c.publishAsync(`devices/junk-${i}/telemetry`, junk(bytes, i), { qos: 1 })
  await c.endAsync(true)
}

/** A listing whose client takes its status and headers, then reads nothing more until it closes it. */
function heldListing(port: number, path: string): Promise<{ status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      res.pause()
      res.on('error', () => undefined)
      resolve({ status: res.statusCode ?? 0, close: () => req.destroy() })
    })
    req.on('error', reject)
    req.end()
  })
}

const url = (port: number, path: string) => `http://127.0.0.1:${port}${path}`

t.test(
  'dead-letter listing - refused with 503 and Retry-After while the gate is full; a closed listing frees its place',
  async (t) => {
    // One query at a time and none waiting: a listing held open fills the gate.
    const app = await startTestApp(t, { maxQueries: 1, maxQueuedQueries: 0, deadLetterMaxBytesPerSecond: 0 })
    // 40 letters of 240 KB: 9.6 MB, a page of 8 MiB that cannot all wait in the sockets' buffers.
    await storeJunk(app.mqttPort, 40, 240_000)

    const held = await heldListing(app.httpPort, '/v1/dead-letters?limit=10000&include=payload')
    t.equal(held.status, 200, 'the first listing is admitted and starts')
    const refused = await fetch(url(app.httpPort, '/v1/dead-letters'))
    t.equal(refused.status, 503, 'a second listing is refused while the first streams')
    t.equal(refused.headers.get('retry-after'), '5', 'and told when to retry')
    t.match(await refused.json(), { code: 'TLM_ERR_BUSY' })

    held.close()
    // The closed listing's cursor is closed in the worker, its query interrupted and its place freed.
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      const res = await fetch(url(app.httpPort, '/v1/dead-letters?limit=1'))
      status = res.status
      await res.arrayBuffer()
      if (status !== 200) await new Promise((r) => setTimeout(r, 50))
    }
    t.equal(status, 200, 'once the first listing is closed, the next is admitted')
    const metrics = await (await fetch(url(app.httpPort, '/metrics'))).text()
    t.match(metrics, /telemetry_queries_refused_total\{cause="busy"\} [1-9]/, 'the refusal is counted')
  },
)

t.test(
  'dead-letter listing - NDJSON: a letter a line, then where the next page starts; next is null on the last page',
  async (t) => {
    const app = await startTestApp(t)
    await storeJunk(app.mqttPort, 5, 100)
    const page = async (after: number) => {
      const res = await fetch(url(app.httpPort, `/v1/dead-letters?limit=2&after=${after}&format=ndjson`))
      t.equal(res.headers.get('content-type'), 'application/x-ndjson')
      return (await res.text())
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { id?: number; payload_bytes?: number; next?: number | null })
    }
    const first = await page(0)
    t.same(
      first.map((l) => l.id ?? l.next),
      [1, 2, 2],
      'two letters, then next',
    )
    t.same(first[0]!.payload_bytes, 100)
    t.same((await page(2)).at(-1), { next: 4 })
    t.same(
      (await page(4)).map((l) => l.id ?? l.next),
      [5, null],
      'the last letter, and no next',
    )
    // An exact page: nothing follows it, so no next either (it was given before, leading to an empty page).
    const json = await (await fetch(url(app.httpPort, '/v1/dead-letters?limit=5'))).json()
    t.match(json, { next: null })
    t.equal((json as { deadLetters: unknown[] }).deadLetters.length, 5)
  },
)

t.test(
  'dead-letter listing - a flood of large refusals from many device ids is kept at the byte rate; readings are all acknowledged and stored',
  async (t) => {
    // The soak's flood: 200 KB of junk from a new device id each time, under every per-device rate.
    const app = await startTestApp(t)
    const started = performance.now()
    const flood = (async () => {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
      const inFlight = new Set<Promise<unknown>>()
      for (let i = 0; i < 150; i++) {
        const p = c.publishAsync(`devices/flood-${i}/telemetry`, junk(200_000, i), { qos: 1 })
        inFlight.add(p)
        void p.finally(() => inFlight.delete(p))
        if (inFlight.size >= 20) await Promise.race(inFlight)
      }
      await Promise.all(inFlight)
      await c.endAsync(true)
    })()
    const legit = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => legit.endAsync(true))
    for (let seq = 1; seq <= 200; seq++)
      await legit.publishAsync('devices/legit/telemetry', JSON.stringify({ v: 1, seq, m: { temp: seq } }), {
        qos: 1,
      })
    await flood
    const seconds = (performance.now() - started) / 1000

    const res = await fetch(url(app.httpPort, '/v1/telemetry?device=legit&from=0&limit=1000&format=ndjson'))
    t.equal((await res.text()).trimEnd().split('\n').length, 200, 'every reading acknowledged is stored')
    const { deadLetters } = (await (
      await fetch(url(app.httpPort, '/v1/dead-letters?limit=10000'))
    ).json()) as {
      deadLetters: Array<{ payload_bytes: number }>
    }
    const keptBytes = deadLetters.reduce((sum, l) => sum + l.payload_bytes, 0)
    // 1 MB a second, plus the second's worth the bucket starts with, plus the letter that goes into debt.
    t.ok(
      keptBytes <= 1_000_000 * (seconds + 1) + 200_000,
      `${keptBytes} bytes of dead letters kept in ${seconds.toFixed(1)} s`,
    )
    const metrics = await (await fetch(url(app.httpPort, '/metrics'))).text()
    const notKept = Number(
      /telemetry_dead_letters_not_stored_total\{cap="byte_rate"\} (\d+)/.exec(metrics)?.[1],
    )
    t.equal(notKept, 150 - deadLetters.length, 'the others acknowledged and counted as cap="byte_rate"')
    t.ok(notKept > 0)
  },
)

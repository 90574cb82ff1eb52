/**
 * The v2 write path's error handling, against a small HTTP stub that speaks
 * /ping and /api/v2/write and answers exactly what the test scripts: a 429
 * with Retry-After, a 503, and a 400 for one bad line. The forwarder must
 * wait as told, retry, dead-letter only the bad line, and deliver the rest.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { gunzipSync } from 'node:zlib'
import mqtt from 'mqtt'
import t from 'tap'
import { encodeMessage } from '../../simulators/encode.js'
import { DEFAULT_MAX_BACKLOG_BYTES } from '../../src/config.js'
import { startTestApp } from '../helpers/app.js'
import { getJson, metric } from '../helpers/http.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface WriteRequest {
  readonly at: number
  readonly url: string
  readonly authorization: string | undefined
  readonly lines: string[]
}

t.test(
  'influx v2 - 429 Retry-After, 503 and a 400 for one line: waited, retried, only that line dead-lettered',
  async (t) => {
    const requests: WriteRequest[] = []
    /** Point identity (series and time) → line: what InfluxDB would keep. */
    const points = new Map<string, string>()
    const script = ['429', '503']
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = []
      req.on('data', (d: Buffer) => chunks.push(d))
      req.on('end', () => {
        // The client gzips bodies over 1 kB, as InfluxDB accepts.
        const raw = Buffer.concat(chunks)
        const body = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString()
        if (req.url === '/ping') {
          res.writeHead(204, { 'X-Influxdb-Version': 'v2.7.11' }).end()
          return
        }
        const lines = body.split('\n').filter((l) => l !== '')
        requests.push({ at: Date.now(), url: req.url!, authorization: req.headers.authorization, lines })
        const next = script.shift()
        if (next === '429') {
          res.writeHead(429, { 'Retry-After': '1', 'content-type': 'application/json' })
          res.end('{"code":"too many requests","message":"slow down"}')
        } else if (next === '503') {
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end('{"code":"unavailable","message":"busy"}')
        } else if (lines.some((l) => l.includes('poison='))) {
          // Like InfluxDB: the good lines of a partially refused batch are written.
          for (const l of lines) if (!l.includes('poison=')) points.set(identity(l), l)
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(
            '{"code":"invalid","message":"partial write: field type conflict: input field \\"poison\\" is type boolean, already exists as type float dropped=1"}',
          )
        } else {
          for (const l of lines) points.set(identity(l), l)
          res.writeHead(204).end()
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => server.close())
    const address = server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

    const app = await startTestApp(t, {
      influx: {
        url,
        version: 'auto',
        token: 'tkn',
        org: 'acme',
        bucket: 'telemetry',
        db: null,
        rp: null,
        measurement: 'telemetry',
        tags: [],
        maxBacklogBytes: DEFAULT_MAX_BACKLOG_BYTES,
      },
    })
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => c.endAsync(true))
    for (let seq = 1; seq <= 50; seq++) {
      const fields = seq === 25 ? { poison: true } : { v: seq }
      await c.publishAsync('devices/d/telemetry', encodeMessage({ seq, fields }), { qos: 1 })
    }
    const deadline = Date.now() + 30_000
    while ((await metric(app.httpPort, 'influx_backlog_readings')) !== 0 && Date.now() < deadline)
      await sleep(100)

    t.equal(await metric(app.httpPort, 'influx_backlog_readings'), 0, 'the backlog drained')
    t.match(
      requests[0]!.url,
      /^\/api\/v2\/write\?org=acme&bucket=telemetry&precision=ns/,
      'the v2 endpoint, found by /ping',
    )
    t.equal(requests[0]!.authorization, 'Token tkn')
    t.ok(
      requests[1]!.at - requests[0]!.at >= 1000,
      `Retry-After: 1 waited (${requests[1]!.at - requests[0]!.at} ms)`,
    )
    t.same(
      [...points.values()].map((l) => Number(/@seq=(\d+)i/.exec(l)![1])).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1).filter((s) => s !== 25),
      'every other reading arrived, once',
    )
    t.equal(await metric(app.httpPort, 'influx_lines_rejected_total'), 1)
    const letters = await getJson<{ deadLetters: Array<{ reason: string; detail: string; device: string }> }>(
      app.httpPort,
      '/v1/dead-letters?reason=influx_rejected',
    )
    t.equal(letters.body.deadLetters.length, 1, 'the bad line became one dead letter')
    t.match(letters.body.deadLetters[0], {
      device: 'd',
      detail: /InfluxDB: partial write: field type conflict/,
    })
    const retries = await fetch(`http://127.0.0.1:${app.httpPort}/metrics`).then((r) => r.text())
    t.match(retries, /influx_write_retries_total\{cause="http_429"\} 1/)
    t.match(retries, /influx_write_retries_total\{cause="http_503"\} 1/)
  },
)

/** Measurement, tags and time: a line's point identity. */
function identity(line: string): string {
  const [series, , time] = line.split(' ')
  return `${series} ${time}`
}

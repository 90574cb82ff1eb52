/**
 * Outside clients of the SSE streams: curl over h2c with prior knowledge,
 * and HTTPS with a self-signed certificate made here by openssl, where one
 * secure port offers HTTP/2 (by ALPN) and HTTP/1.1. The app runs in this
 * process, so outside programs run asynchronously: a synchronous spawn would
 * stop the server they talk to.
 */

import { execFile, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect as http2Connect } from 'node:http2'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { startTestApp, tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { reading } from '../helpers/mqtt.js'
import { dataOf, h1Get, h2Get, SseReader } from '../helpers/sse.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

interface TelemetryData {
  device: string
  seq: number
  fields: Record<string, number>
}

async function mqttClient(t: Teardown, port: number): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    clientId: `e2e-${Math.random()}`,
  })
  t.teardown(() => c.endAsync(true))
  return c
}

async function publish(c: MqttClient, device: string, seq: number, fields: Record<string, number>) {
  await c.publishAsync(`devices/${device}/telemetry`, reading(seq, fields), { qos: 1 })
}

const seqsOf = (r: SseReader) => dataOf<TelemetryData>(r.events, 'telemetry').map((d) => d.seq)

t.test('e2e - curl --http2-prior-knowledge -N receives filtered telemetry events', async (t) => {
  if (!haveProgram(t, 'curl', 'curl')) return
  const app = await startTestApp(t)
  const c = await mqttClient(t, app.mqttPort)
  await publish(c, 'cu-1', 1, { temp: 1.5 })
  await publish(c, 'cu-2', 1, { temp: 9.5 })

  const curl = spawn(
    'curl',
    [
      '--http2-prior-knowledge',
      '-N',
      '-sS',
      '-v',
      '--max-time',
      '60',
      `http://127.0.0.1:${app.httpPort}/v1/stream/telemetry?device=cu-1&fields=temp`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  t.teardown(() => {
    if (curl.exitCode === null) curl.kill()
  })
  let stderr = ''
  curl.stderr.setEncoding('utf8')
  curl.stderr.on('data', (d: string) => {
    stderr += d
  })
  const reader = new SseReader(curl.stdout)
  // The retry hint comes first: curl is attached once it has it.
  await reader.until((r) => r.parser.retry !== null, 'curl: the retry hint')

  for (let seq = 2; seq <= 4; seq++) {
    await publish(c, 'cu-1', seq, { temp: seq + 0.5, hum: 50 })
    await publish(c, 'cu-2', seq, { temp: seq })
  }
  await reader.until((r) => seqsOf(r).includes(4), 'curl: seq 4')
  const got = dataOf<TelemetryData>(reader.events, 'telemetry')
  t.same(
    got.map((d) => [d.device, d.seq, d.fields]),
    [
      ['cu-1', 2, { temp: 2.5 }],
      ['cu-1', 3, { temp: 3.5 }],
      ['cu-1', 4, { temp: 4.5 }],
    ],
  )
  t.match(stderr, /< HTTP\/2 200/, 'curl spoke HTTP/2')
  t.match(stderr, /< content-type: text\/event-stream/i)
})

/** A self-signed certificate for localhost, made by openssl in a temp dir. */
async function selfSigned(t: Teardown): Promise<{ cert: string; key: string }> {
  const dir = tempDir(t, 'tlm-tls-')
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  await promisify(execFile)(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { timeout: 60_000 },
  )
  return { cert, key }
}

t.test(
  'e2e - over TLS, an HTTP/2 client (ALPN h2) and an HTTPS/1.1 client both receive events',
  async (t) => {
    if (!haveProgram(t, 'openssl', 'openssl')) return
    const files = await selfSigned(t)
    const ca = readFileSync(files.cert)
    const app = await startTestApp(t, { tlsCert: files.cert, tlsKey: files.key })
    const c = await mqttClient(t, app.mqttPort)
    await publish(c, 'tls-1', 1, { temp: 1.5 })
    const path = '/v1/stream/telemetry?device=tls-1'
    const url = `https://127.0.0.1:${app.httpPort}`

    // The certificate is checked: trusted as the CA, for the name localhost.
    const session = http2Connect(url, { ca, servername: 'localhost' })
    session.on('error', () => undefined)
    t.teardown(() => session.destroy())
    const h2 = await h2Get(session, path)
    t.teardown(() => h2.stream.destroy())
    t.equal(h2.status, 200)
    t.equal(session.alpnProtocol, 'h2', 'ALPN negotiated HTTP/2')
    t.equal(session.encrypted, true)
    const h2Reader = new SseReader(h2.stream)

    const res = await h1Get(t, url + path, {}, { ca, servername: 'localhost' })
    t.equal(res.statusCode, 200)
    t.equal(res.httpVersion, '1.1', 'a client offering no ALPN gets HTTP/1.1 on the same port')
    t.match(res.headers['content-type'], /^text\/event-stream/)
    const h1Reader = new SseReader(res)

    for (let seq = 2; seq <= 4; seq++) await publish(c, 'tls-1', seq, { temp: seq + 0.5 })
    await h2Reader.until((r) => seqsOf(r).includes(4), 'h2 over TLS: seq 4')
    await h1Reader.until((r) => seqsOf(r).includes(4), 'HTTPS/1.1: seq 4')
    t.same(seqsOf(h2Reader), [2, 3, 4])
    t.same(seqsOf(h1Reader), [2, 3, 4])
    t.same(
      h1Reader.events.filter((e) => e.event === 'telemetry'),
      h2Reader.events.filter((e) => e.event === 'telemetry'),
      'the same events, ids and data',
    )

    // The other endpoints are on the same secure port.
    const health = await h2Get(session, '/healthz')
    t.equal(health.status, 200, 'GET /healthz over h2 with TLS')
    health.stream.resume()
  },
)

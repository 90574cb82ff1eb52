/**
 * CORS and the per-token limits of the HTTP API (issue 22, items 5 and 6):
 * preflights from curl over HTTP/1.1 and h2c, requests per second per token
 * (@fastify/rate-limit), and SSE streams per token, over HTTP/2 streams of
 * one session as a browser or model would hold them.
 */

import { execFile } from 'node:child_process'
import { connect as http2Connect } from 'node:http2'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import t from 'tap'
import { call, counted, makeToken, startSecured, until } from '../helpers/auth.js'
import { haveProgram } from '../helpers/external.js'
import { reading } from '../helpers/mqtt.js'
import { bodyText, dataOf, h2Get, SseReader } from '../helpers/sse.js'

const run = promisify(execFile)
const DASHBOARD = 'https://dash.example:8443'

t.test(
  'http limits - CORS: preflights for the streams and history with Authorization; errors readable cross-origin',
  async (t) => {
    if (!haveProgram(t, 'curl', 'curl')) return
    const { app, file } = await startSecured(t, { corsOrigin: [DASHBOARD] })
    const read = makeToken(file, 'read')
    await app.reloadTokens()
    const base = `http://127.0.0.1:${app.httpPort}`
    for (const [path, http2] of [
      ['/v1/stream/telemetry?device=*', false],
      ['/v1/stream/features?device=*', true],
      ['/v1/telemetry?device=d-1', false],
    ] as const) {
      const { stdout } = await run('curl', [
        '-sS',
        '-i',
        ...(http2 ? ['--http2-prior-knowledge'] : []),
        '-X',
        'OPTIONS',
        '-H',
        `Origin: ${DASHBOARD}`,
        '-H',
        'Access-Control-Request-Method: GET',
        '-H',
        'Access-Control-Request-Headers: authorization, last-event-id',
        `${base}${path}`,
      ])
      t.match(stdout, /^HTTP\/(1\.1|2) 204/, `${path}: preflight answered without a token`)
      t.match(stdout, new RegExp(`access-control-allow-origin: ${DASHBOARD}`, 'i'))
      t.match(stdout, /access-control-allow-headers: authorization, content-type, last-event-id/i)
    }
    const { stdout: other } = await run('curl', [
      '-sS',
      '-i',
      '-X',
      'OPTIONS',
      '-H',
      'Origin: https://evil.example',
      '-H',
      'Access-Control-Request-Method: GET',
      `${base}/v1/telemetry`,
    ])
    t.notMatch(other, /access-control-allow-origin/i, 'another origin is not allowed')

    const refused = await call(app.httpPort, '/v1/telemetry?device=d-1', { headers: { origin: DASHBOARD } })
    t.equal(refused.status, 401)
    t.equal(
      refused.headers.get('access-control-allow-origin'),
      DASHBOARD,
      'a 401 is readable by the dashboard',
    )
    t.match(refused.headers.get('access-control-expose-headers'), /www-authenticate/)

    // A stream writes its own head (sse.ts): the CORS headers must reach it all the same.
    const session = http2Connect(base)
    t.teardown(() => session.close())
    const stream = await h2Get(session, `/v1/stream/telemetry?device=*&access_token=${read}`, {
      origin: DASHBOARD,
    })
    t.equal(stream.status, 200)
    t.equal(stream.headers['access-control-allow-origin'], DASHBOARD, 'the event stream carries CORS headers')
    stream.stream.close()
  },
)

t.test(
  'http limits - requests per second per token: 429 with Retry-After, while another token is served',
  async (t) => {
    const { app, file } = await startSecured(t, { httpRequestsPerSecondPerToken: 3 })
    const [a, b, c] = [makeToken(file, 'admin'), makeToken(file, 'admin'), makeToken(file, 'read')]
    await app.reloadTokens()
    const port = app.httpPort
    // Ten at once: a window boundary may split them, but not into two halves of three or fewer.
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => call(port, '/v1/dead-letters', { token: a })),
    )
    const limited = burst.filter((r) => r.status === 429)
    t.ok(limited.length >= 4, `${limited.length} of 10 refused`)
    t.equal(burst.filter((r) => r.status === 200).length + limited.length, 10, 'the rest served')
    t.match(limited[0]?.body, {
      code: 'TLM_ERR_RATE_LIMITED',
      message: /--http-requests-per-second-per-token/,
    })
    t.match(limited[0]?.headers.get('retry-after'), /^[1-9]\d*$/)
    t.equal(
      (await call(port, '/v1/dead-letters', { token: b })).status,
      200,
      'another token is served meanwhile',
    )
    t.equal(await counted(app, 'http_requests_rate_limited_total'), limited.length, 'each 429 counted')

    // An SSE stream is one request, however many events it carries.
    const session = http2Connect(`http://127.0.0.1:${port}`)
    t.teardown(() => session.close())
    const { stream, status } = await h2Get(session, `/v1/stream/telemetry?device=*&access_token=${c}`)
    t.equal(status, 200)
    const reader = new SseReader(stream)
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => device.endAsync(true))
    for (let seq = 1; seq <= 10; seq++)
      await device.publishAsync('devices/r-1/telemetry', reading(seq, { temp: seq }), { qos: 1 })
    await reader.until((r) => dataOf(r.events, 'telemetry').length === 10, 'ten events')
    const after = await h2Get(session, '/v1/telemetry?device=r-1', { authorization: `Bearer ${c}` })
    t.equal(after.status, 200, 'ten events did not use up three requests')
    await bodyText(after.stream)
    stream.close()
  },
)

t.test(
  'http limits - SSE streams per token: the next is refused until one closes; other tokens unaffected',
  async (t) => {
    const { app, file } = await startSecured(t, { sseClientsPerToken: 2 })
    const [a, b] = [makeToken(file, 'read'), makeToken(file, 'read')]
    await app.reloadTokens()
    const port = app.httpPort
    // Refused after the slot was taken (a bad parameter): the slot comes back with the response.
    for (let i = 0; i < 3; i++) {
      const bad = await call(port, '/v1/stream/telemetry?device=no/such', { token: a })
      t.equal(bad.status, 400)
    }
    const session = http2Connect(`http://127.0.0.1:${port}`)
    t.teardown(() => session.close())
    const open = (token: string) => h2Get(session, `/v1/stream/telemetry?device=*&access_token=${token}`)
    const first = await open(a)
    const second = await open(a)
    t.same([first.status, second.status], [200, 200], 'two streams')
    const third = await open(a)
    t.equal(third.status, 429)
    t.match(JSON.parse(await bodyText(third.stream)), {
      code: 'TLM_ERR_TOO_MANY_STREAMS',
      message: /--sse-clients-per-token/,
    })
    const other = await open(b)
    t.equal(other.status, 200, 'another token opens its own')
    t.equal(await counted(app, 'sse_clients_refused_total'), 1)

    first.stream.close()
    await until('a slot comes back once a stream closes', async () => {
      const again = await open(a)
      again.stream.close()
      return again.status === 200
    })
    t.pass('a reopened stream is admitted')
    second.stream.close()
    other.stream.close()
  },
)

/**
 * The HTTP API with a tokens file (issue 22, items 5 to 7; docs/security.md):
 * the whole app in this process on ephemeral ports, tokens made by the
 * project's command, requests over HTTP/1.1 (fetch) and HTTP/2 (node:http2).
 * Every refusal is a test, with its code and with nothing done.
 */

import { renameSync, writeFileSync } from 'node:fs'
import { connect as http2Connect } from 'node:http2'
import mqtt from 'mqtt'
import t from 'tap'
import { ROUTE_RULES } from '../../src/api/auth/index.js'
import { runTokenCommand } from '../../src/token.js'
import { call, counted, HISTORY, idOf, makeToken, publishOne, startSecured, until } from '../helpers/auth.js'
import { reading } from '../helpers/mqtt.js'
import { bodyText, dataOf, h2Get, SseReader } from '../helpers/sse.js'

t.test(
  'http auth - 401 without a token, with a wrong, malformed or expired one; health stays open',
  async (t) => {
    const { app, file, lines } = await startSecured(t)
    const read = makeToken(file, 'read')
    // Made a day ago for one minute: expired.
    const expired = runTokenCommand(
      ['create', '--tokens-file', file, '--scope', 'read', '--expires', '1m'],
      {},
      new Date(Date.now() - 86_400_000),
    ).at(-1)!
    await app.reloadTokens()
    const port = app.httpPort

    const none = await call(port, HISTORY)
    t.equal(none.status, 401)
    t.equal(none.body.code, 'TLM_ERR_UNAUTHORIZED')
    t.equal(
      none.headers.get('www-authenticate'),
      'Bearer realm="telemetry-bridge"',
      'RFC 6750 §3: no error code for a request without a token',
    )

    const cases: [string, string, RegExp][] = [
      ['unknown', makeTokenLike(read), /invalid_token.*not known/],
      ['expired', expired, /invalid_token.*expired/],
    ]
    for (const [reason, token, challenge] of cases) {
      const res = await call(port, HISTORY, { token })
      t.equal(res.status, 401, reason)
      t.equal(res.body.code, 'TLM_ERR_UNAUTHORIZED', reason)
      t.match(res.headers.get('www-authenticate'), challenge, reason)
    }
    const basic = await call(port, '/v1/dead-letters', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })
    t.equal(basic.status, 401, 'another scheme is a malformed header')

    // Every row of the route table is a route of the app, and each one not open refuses a request without a token.
    for (const [route, rule] of Object.entries(ROUTE_RULES)) {
      const [method, path] = route.split(' ') as [string, string]
      if (rule.access === 'open') continue
      const res = await call(port, path, { method, ...(method === 'POST' ? { body: {} } : {}) })
      t.equal(res.status, 401, `${route} needs ${rule.access}`)
    }
    for (const path of ['/healthz', '/readyz']) t.equal((await call(port, path)).status, 200, `${path} open`)
    t.equal((await call(port, '/v1/nothing')).status, 404, 'no route is a 404, token or not')
    const ok = await call(port, HISTORY, { token: read })
    t.equal(ok.status, 200, 'a read token reads history')

    const guarded = Object.values(ROUTE_RULES).filter((rule) => rule.access !== 'open').length
    t.equal(
      await counted(app, 'http_auth_refused_total', { reason: 'missing' }),
      1 + guarded,
      `one and the ${guarded} routes`,
    )
    t.equal(await counted(app, 'http_auth_refused_total', { reason: 'expired' }), 1)
    t.equal(await counted(app, 'http_auth_refused_total', { reason: 'malformed' }), 1)
    // The audit: the first refusal of the window logged whole, the rest counted (audit.ts).
    const audit = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'http_auth_failed')
    t.equal(audit.length, 1, 'one line per window for a stream of refusals')
    t.match(audit[0], {
      reason: 'missing',
      method: 'GET',
      remoteAddress: '127.0.0.1',
      url: HISTORY,
    })
  },
)

/** A well-formed token of the same id with another secret. */
function makeTokenLike(token: string): string {
  return `${token.slice(0, 17)}${'x'.repeat(43)}`
}

t.test(
  'http auth - scopes: a read token cannot replay (nothing replayed), a metrics token reads only /metrics',
  async (t) => {
    const { app, file, lines } = await startSecured(t)
    const read = makeToken(file, 'read')
    const metrics = makeToken(file, 'metrics')
    const admin = makeToken(file, 'admin', '--name', 'ops')
    await app.reloadTokens()
    const port = app.httpPort
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    await c.publishAsync('devices/d-1/telemetry', '{"v":1, not json', { qos: 1 })
    await c.endAsync()

    const replay = await call(port, '/v1/dead-letters/replay', {
      token: read,
      method: 'POST',
      body: { reason: 'json_malformed' },
    })
    t.equal(replay.status, 403)
    t.equal(replay.body.code, 'TLM_ERR_FORBIDDEN')
    t.equal(replay.headers.get('www-authenticate'), 'Bearer error="insufficient_scope", scope="admin"')
    t.equal((await call(port, '/v1/dead-letters', { token: read })).status, 403, 'nor list dead letters')
    const listed = await call(port, '/v1/dead-letters?replayed=true', { token: admin })
    t.equal(listed.status, 200)
    t.match(
      listed.body.deadLetters,
      [{ reason: 'json_malformed', replayed_at: null }],
      'the dead letter was not replayed',
    )

    t.equal((await call(port, HISTORY, { token: metrics })).status, 403, 'metrics token on history')
    t.equal(
      (await call(port, '/v1/stream/telemetry?device=*', { token: metrics })).status,
      403,
      'and on a stream',
    )
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
      headers: { authorization: `Bearer ${metrics}` },
    })
    t.equal(res.status, 200, 'a metrics token scrapes')
    t.match(await res.text(), /http_auth_refused_total\{reason="scope"\} 4/)
    t.equal((await call(port, '/metrics', { token: read })).status, 403, 'a read token does not')

    const done = await call(port, '/v1/dead-letters/replay', {
      token: admin,
      method: 'POST',
      body: { reason: 'json_malformed' },
    })
    t.equal(done.status, 200, 'an admin token replays')
    const logged = lines.map((l) => JSON.parse(l))
    t.match(
      logged.filter((l) => l.event === 'http_admin_action'),
      [
        { tokenId: idOf(admin), tokenName: 'ops', method: 'GET', statusCode: 200 },
        {
          tokenId: idOf(admin),
          tokenName: 'ops',
          method: 'POST',
          url: '/v1/dead-letters/replay',
          statusCode: 200,
          body: '{"reason":"json_malformed"}',
        },
      ],
      'every admin action: who, what, from where',
    )
    t.match(
      logged.filter((l) => l.event === 'http_forbidden'),
      [{ tokenId: idOf(read), reason: 'needs admin' }],
    )
  },
)

t.test('http auth - a token revoked, or the file replaced, while the server runs', async (t) => {
  const { app, file } = await startSecured(t)
  const read = makeToken(file, 'read')
  const port = app.httpPort
  const path = HISTORY
  await publishOne(app)
  // No reload asked for: the server sees the file change by itself.
  await until('the new token is read', async () => (await call(port, path, { token: read })).status === 200)
  runTokenCommand(['revoke', '--tokens-file', file, idOf(read)], {})
  await until(
    'the revoked token is refused',
    async () => (await call(port, path, { token: read })).status === 401,
  )
  const refused = await call(port, path, { token: read })
  t.match(refused.body, { code: 'TLM_ERR_UNAUTHORIZED', message: /revoked/ })

  // An editor saving a broken file: the tokens before stay in force, and the failure is counted.
  const other = makeToken(file, 'read')
  await until(
    'the other token is read',
    async () => (await call(port, path, { token: other })).status === 200,
  )
  const failedBefore = await counted(app, 'http_tokens_reloads_total', { result: 'failed' })
  writeFileSync(`${file}.tmp`, '{"id": "half a line')
  renameSync(`${file}.tmp`, file)
  await until(
    'the broken file is read',
    async () => (await counted(app, 'http_tokens_reloads_total', { result: 'failed' })) > failedBefore,
  )
  t.equal((await call(port, path, { token: other })).status, 200, 'the last good tokens stay')
  t.equal((await call(port, path, { token: read })).status, 401, 'the revoked one stays revoked')

  // SIGHUP reads the file again even when it has not changed.
  const readsBefore = await counted(app, 'http_tokens_reloads_total')
  process.kill(process.pid, 'SIGHUP')
  await until('SIGHUP reloads', async () => (await counted(app, 'http_tokens_reloads_total')) > readsBefore)
  t.pass('SIGHUP read the file')
})

t.test(
  'http auth - SSE takes the token as access_token over HTTP/2; no log line holds a token',
  async (t) => {
    const { app, file, lines } = await startSecured(t)
    const read = makeToken(file, 'read')
    await app.reloadTokens()
    const port = app.httpPort
    const session = http2Connect(`http://127.0.0.1:${port}`)
    t.teardown(() => session.close())

    const refused = await h2Get(
      session,
      '/v1/stream/telemetry?device=*&access_token=tlm_000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro',
    )
    t.equal(refused.status, 401)
    t.match(JSON.parse(await bodyText(refused.stream)), { code: 'TLM_ERR_UNAUTHORIZED' })

    const { stream, status } = await h2Get(session, `/v1/stream/telemetry?device=*&access_token=${read}`)
    t.equal(status, 200, 'the query token opens the stream')
    const reader = new SseReader(stream)
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => c.endAsync(true))
    await c.publishAsync('devices/s-1/telemetry', reading(1, { temp: 1.5 }), { qos: 1 })
    await reader.until((r) => dataOf(r.events, 'telemetry').length === 1, 'one telemetry event')
    stream.close()

    const twice = await call(port, `/v1/stream/telemetry?device=*&access_token=${read}`, { token: read })
    t.match(twice, { status: 400, body: { parameter: 'access_token' } }, 'RFC 6750 §2: one way at a time')
    const elsewhere = await call(port, `${HISTORY}&access_token=${read}`)
    t.match(
      elsewhere,
      { status: 400, body: { parameter: 'access_token' } },
      'only streams take it in the query',
    )

    const text = lines.join('')
    t.notMatch(text, read.slice(17), 'no line holds the token')
    t.notMatch(text, 'wrongwrong', 'nor a wrong one')
    t.match(
      text,
      /"url":"\/v1\/stream\/telemetry\?device=\*&access_token=\[REDACTED\]"/,
      'the URL is logged redacted',
    )
    t.match(
      lines.map((l) => JSON.parse(l)).find((l) => l.event === 'http_auth_failed'),
      { reason: 'unknown', tokenId: '000000000000' },
      'a refused token is named by the id it claims, and by nothing more',
    )
  },
)

t.test('http auth - --metrics-open leaves /metrics open, and nothing else', async (t) => {
  const { app } = await startSecured(t, { metricsOpen: true })
  t.equal((await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).status, 200)
  t.equal((await call(app.httpPort, '/v1/dead-letters')).status, 401)
})

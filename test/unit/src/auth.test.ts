/**
 * The pure parts of the HTTP API's security: the tokens file, a token's
 * verdict, URL redaction, the route table, the audit throttle, the token
 * command's arguments. The HTTP behaviour is in test/integration/http-auth.test.ts.
 */

import { writeFileSync } from 'node:fs'
import { pino } from 'pino'
import t from 'tap'
import { Audit } from '../../../src/api/auth/audit.js'
import {
  formatTokens,
  newToken,
  OPEN_HTTP,
  parseTokens,
  REDACTED,
  ROUTE_RULES,
  redactUrl,
  ruleOf,
  TokenSet,
  TokenStore,
} from '../../../src/api/auth/index.js'
import { createHttpServer } from '../../../src/api/server.js'
import { DEFAULT_CONFIG, loadConfig } from '../../../src/config.js'
import { ConfigError } from '../../../src/core/errors.js'
import { expiryOf, runTokenCommand } from '../../../src/token.js'
import { tempDir } from '../../helpers/app.js'

const NOW = new Date('2026-12-01T00:00:00Z')

t.test('auth - a token verifies against its record, and only its own', async (t) => {
  const a = newToken(['read'], 'a', null, NOW)
  const b = newToken(['admin'], null, new Date('2026-12-02T00:00:00Z'), NOW)
  const set = new TokenSet(parseTokens(formatTokens([a.record, b.record])))
  t.match(set.verify(a.token), { ok: true, token: { id: a.record.id, scopes: ['read'] } })
  t.match(set.verify(b.token, NOW.getTime()), { ok: true })
  t.same(set.verify(b.token, Date.parse('2026-12-02T00:00:00Z')), { ok: false, reason: 'expired' })
  // The right id with another secret: the hash decides, not the id.
  const forged = `${a.token.slice(0, 17)}${'A'.repeat(43)}`
  t.same(set.verify(forged), { ok: false, reason: 'unknown' })
  t.same(set.verify(newToken(['read'], null, null).token), { ok: false, reason: 'unknown' })
  for (const bad of ['', 'tlm_', a.token.slice(0, -1), `${a.token}x`, `Bearer ${a.token}`])
    t.same(set.verify(bad), { ok: false, reason: 'malformed' }, JSON.stringify(bad))
  const revoked = new TokenSet([{ ...a.record, revoked: NOW.toISOString() }])
  t.same(revoked.verify(a.token), { ok: false, reason: 'revoked' })
  t.notMatch(formatTokens([a.record]), a.token.slice(18), 'the file never holds the token')
})

t.test('auth - a tokens file that does not read names its line', async (t) => {
  const { record } = newToken(['read'], null, null, NOW)
  const good = JSON.stringify(record)
  const cases: [string, RegExp][] = [
    [`${good}\n{"id":`, /line 2: not JSON/],
    [`${good}\n${good}`, /line 2: id .* appears twice/],
    [JSON.stringify({ ...record, scopes: ['write'] }), /line 1: \/scopes\/0/],
    [JSON.stringify({ ...record, scopes: [] }), /line 1: \/scopes/],
    [JSON.stringify({ ...record, token: 'x' }), /line 1: .*additional/],
    [JSON.stringify({ ...record, sha256: 'abc' }), /line 1: \/sha256/],
    [JSON.stringify({ ...record, expires: 'soon' }), /line 1: \/expires/],
  ]
  for (const [text, message] of cases) t.throws(() => parseTokens(text), { message }, text.slice(0, 60))
  t.same(parseTokens(`\n${good}\n\n`).length, 1, 'blank lines are skipped')
})

t.test('auth - access_token is redacted from every URL, however it is spelled', async (t) => {
  const cases: [string, string][] = [
    ['/v1/stream/telemetry?device=*', '/v1/stream/telemetry?device=*'],
    ['/v1/stream/telemetry?access_token=tlm_x', `/v1/stream/telemetry?access_token=${REDACTED}`],
    ['/s?device=a&access_token=tlm_x&fields=t', `/s?device=a&access_token=${REDACTED}&fields=t`],
    ['/s?access%5Ftoken=tlm_x', `/s?access%5Ftoken=${REDACTED}`],
    ['/s?access_token=a&access_token=b', `/s?access_token=${REDACTED}&access_token=${REDACTED}`],
    ['/s?access_token', `/s?access_token=${REDACTED}`],
    ['/s?x=%E0%A4%A', '/s?x=%E0%A4%A'],
    ['/s?my_access_token=1', '/s?my_access_token=1'],
  ]
  for (const [url, redacted] of cases) t.equal(redactUrl(url), redacted, url)
})

t.test("auth - the server's request serializer logs no token and no header", async (t) => {
  const lines: string[] = []
  const app = await createHttpServer(pino({ level: 'info' }, { write: (line: string) => lines.push(line) }))
  t.teardown(() => app.close())
  // Any line that logs the request, as Fastify's own request logging would.
  app.addHook('onResponse', async (request) => request.log.info({ req: request }, 'answered'))
  await app.inject({
    url: '/healthz?access_token=tlm_000000000000_secretsecretsecretsecretsecretsecretsecrets',
    headers: { authorization: 'Bearer tlm_000000000000_headerheaderheaderheaderheaderheaderheader' },
  })
  const line = lines.find((l) => l.includes('answered')) ?? ''
  t.match(JSON.parse(line), { req: { method: 'GET', url: `/healthz?access_token=${REDACTED}` } })
  t.notMatch(line, /secretsecret|headerheader/)
})

t.test('auth - every route has an access rule; a new route without one stops the start', async (t) => {
  t.same(ruleOf('HEAD', '/v1/telemetry'), ROUTE_RULES['GET /v1/telemetry'], 'HEAD is its GET')
  t.throws(() => ruleOf('DELETE', '/v1/dead-letters'), /no access rule/)
  const app = await createHttpServer(pino({ level: 'silent' }))
  t.teardown(() => app.close())
  t.throws(() => app.get('/v1/unlisted', async () => ({})), /route GET \/v1\/unlisted has no access rule/)
})

t.test('auth - the request limit applies to the routes declared once the server is made', async (t) => {
  // Fastify hooks a plugin into a route as the route is declared: a plugin still loading misses the routes.
  const app = await createHttpServer(pino({ level: 'silent' }), null, {
    ...OPEN_HTTP,
    requestsPerSecondPerToken: 1,
  })
  t.teardown(() => app.close())
  app.get('/healthz', async () => ({ status: 'ok' }))
  const from = { remoteAddress: '192.0.2.7' }
  t.equal((await app.inject({ url: '/healthz', ...from })).statusCode, 200)
  const second = await app.inject({ url: '/healthz', ...from })
  t.equal(second.statusCode, 429)
  t.equal(second.json().code, 'TLM_ERR_RATE_LIMITED')
  t.equal(
    (await app.inject({ url: '/healthz', remoteAddress: '127.0.0.1' })).statusCode,
    200,
    'loopback is not limited',
  )
})

t.test('auth - refusals are logged once per window, then counted in one line', async (t) => {
  const lines: Record<string, unknown>[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  const audit = new Audit(log, 60_000)
  const who = {
    tokenId: null,
    tokenName: null,
    method: 'GET',
    url: '/v1/telemetry',
    remoteAddress: '10.0.0.9',
  }
  for (let i = 0; i < 1000; i++) audit.refused('http_auth_failed', { reason: 'unknown', ...who })
  audit.refused('http_forbidden', { reason: 'needs admin', ...who, tokenId: 'abc' })
  t.equal(lines.length, 2, 'one line per event while the window is open')
  audit.close()
  t.equal(lines.length, 3, 'the window closes with one line counting the rest')
  t.match(lines[2], { event: 'http_auth_failed', suppressed: 999, last: { reason: 'unknown' } })
  audit.admin({ ...who, tokenId: 'abc', statusCode: 200 })
  t.match(lines[3], { event: 'http_admin_action', tokenId: 'abc', statusCode: 200 })
})

t.test(
  'auth - options: CORS origins are origins; a tokens file that does not read stops the start',
  async (t) => {
    t.same(loadConfig(['--cors-origin', 'https://a.example, http://b:8080'], {}).corsOrigin, [
      'https://a.example',
      'http://b:8080',
    ])
    t.same(DEFAULT_CONFIG.corsOrigin, [], 'off by default')
    for (const bad of ['https://a.example/', 'a.example', 'ftp://a.example'])
      t.throws(() => loadConfig(['--cors-origin', bad], {}), ConfigError, bad)
    const file = `${tempDir(t)}/tokens`
    writeFileSync(file, '{"id": "half')
    t.throws(() => TokenStore.open(file, pino({ level: 'silent' })), {
      name: 'ConfigError',
      message: /--tokens-file: .*line 1: not JSON/,
    })
  },
)

t.test('token - create, list and revoke; the token is the last line and is kept nowhere', async (t) => {
  const file = `${tempDir(t)}/tokens`
  const out = runTokenCommand(
    ['create', '--tokens-file', file, '--scope', 'read', '--scope', 'metrics', '--name', 'ml'],
    {},
    NOW,
  )
  const token = out.at(-1) ?? ''
  t.match(token, /^tlm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
  const id = token.slice(4, 16)
  const list = runTokenCommand(['list'], { TOKENS_FILE: file }, NOW).join('\n')
  t.match(list, new RegExp(`${id}\tml\tread,metrics\t`))
  t.notMatch(list, token.slice(17), 'list never prints the token')
  t.notMatch(list, /[0-9a-f]{64}/, 'nor a hash')
  runTokenCommand(['revoke', '--tokens-file', file, id], {}, NOW)
  t.match(runTokenCommand(['list', '--tokens-file', file], {}, NOW).join('\n'), /revoked 2026-12-01/)
  t.throws(() => runTokenCommand(['revoke', '--tokens-file', file, 'ffffffffffff'], {}), /no token/)
  t.throws(() => runTokenCommand(['create', '--tokens-file', file, '--scope', 'write'], {}), /--scope write/)
  t.throws(() => runTokenCommand(['create', '--tokens-file', file], {}), /give --scope/)
  t.throws(() => runTokenCommand(['list'], {}), /--tokens-file/)
  t.equal(expiryOf('30d', NOW)?.toISOString(), '2026-12-31T00:00:00.000Z')
  t.equal(expiryOf('never', NOW), null)
  t.throws(() => expiryOf('1y', NOW), /--expires 1y/)
})

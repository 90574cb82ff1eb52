/** Safe defaults (issue #22, item 1): which addresses are loopback, and when an exposed start is refused. */

import t from 'tap'
import { exposureProblems, isLoopback, openToAnyone } from '../../../src/config/exposure.js'

t.test('exposure - loopback addresses', async (t) => {
  for (const host of ['127.0.0.1', '127.0.0.2', '127.255.255.254', 'localhost', '::1'])
    t.ok(isLoopback(host), `${host} is loopback`)
  for (const host of [
    '0.0.0.0',
    '::',
    '192.168.1.10',
    '10.0.0.1',
    '128.0.0.1',
    'example.org',
    '127.0.0.1.example',
  ])
    t.notOk(isLoopback(host), `${host} is not`)
})

t.test('exposure - an exposed host needs both credentials, or --allow-anonymous true', async (t) => {
  const none = { host: '0.0.0.0', passwordFile: null, tokensFile: null, allowAnonymous: null }
  t.same(openToAnyone({ ...none, host: '127.0.0.1' }), [], 'loopback: nothing to say')
  t.same(exposureProblems({ ...none, host: '127.0.0.1' }), [])
  t.same(openToAnyone(none), ['MQTT (no --password-file)', 'the HTTP API (no --tokens-file)'])
  t.match(exposureProblems(none), [
    /^--host 0\.0\.0\.0 is reached by other machines, and MQTT .* and the HTTP API/,
  ])
  t.match(exposureProblems({ ...none, passwordFile: 'p' }), [
    /and the HTTP API \(no --tokens-file\) would serve anyone/,
  ])
  t.match(exposureProblems({ ...none, tokensFile: 't' }), [
    /and MQTT \(no --password-file\) would serve anyone/,
  ])
  t.same(exposureProblems({ ...none, passwordFile: 'p', tokensFile: 't' }), [], 'both given: starts')
  t.same(exposureProblems({ ...none, allowAnonymous: true }), [], 'explicitly allowed: starts')
  t.not(exposureProblems({ ...none, allowAnonymous: false }).length, 0, 'false is not an allowance')
})
